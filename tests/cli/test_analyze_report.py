"""hepatrial analyze --out: the report from the database, and from its ADaM files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hepatrial.cli import main


@pytest.mark.django_db
def test_report_from_the_database_and_from_adam_files(personas, randomized, tmp_path):
    first = CliRunner().invoke(main, ["analyze", "--out", str(tmp_path / "db")])
    assert first.exit_code == 0, first.output
    assert "html:" in first.output and (tmp_path / "db" / "report.html").exists()
    assert (tmp_path / "db" / "adam" / "adsl.csv").exists()
    assert (tmp_path / "db" / "report.pdf").read_bytes().startswith(b"%PDF")
    second = CliRunner().invoke(main, ["analyze", "--adam", str(tmp_path / "db" / "adam"), "--out", str(tmp_path / "files"), "--json"])
    assert second.exit_code == 0, second.output
    numbers = json.loads(second.output)
    assert numbers["consort"]["randomized"] == 1
    assert "Baseline characteristics" in (tmp_path / "files" / "report.html").read_text(encoding="utf-8")
    # hepatrial's own export is analysed with its protocol's settings: the same sections as from the database
    from_db = json.loads((tmp_path / "db" / "report.json").read_text(encoding="utf-8"))
    assert set(numbers) - {"generated"} == set(from_db) - {"generated"}
    # ADSL carries the data cut-off (DCUTDT): the same primary outcome, follow-up and lab completeness as from the database
    for key in ("primary", "follow_up", "arms", "time_to_event"):
        assert numbers[key] == from_db[key], key


def test_bad_sources_exit_2(tmp_path):
    assert CliRunner().invoke(main, ["analyze"]).exit_code == 2
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["analyze", "--adam", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "ADSL is needed" in result.output


def test_an_unset_database_is_told_so(tmp_path, monkeypatch):
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(tmp_path / "home")
    result = subprocess.run([sys.executable, "-m", "hepatrial.cli", "analyze", "--out", str(tmp_path / "o")], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the database is not set up" in result.stdout + result.stderr
