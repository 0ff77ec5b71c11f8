"""hepatrial backup and restore, as a data manager runs them: a demo trial backed up,
changed, restored; the restored database has the backup's content digest and its audit
trail verifies. On SQLite and on PostgreSQL (a database of its own on the test server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from infra.services import new_postgres_database


def hepatrial(env, *args, check=True):
    done = subprocess.run([sys.executable, "-m", "hepatrial.cli", *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def digest_of(output: str) -> str:
    return next(word for word in output.split() if word.startswith("sha256:"))


@contextmanager
def sqlite_home(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(tmp_path / "home")
    yield env


@contextmanager
def postgres_database(tmp_path):
    """A new database on the test server, dropped afterwards."""
    with new_postgres_database("hepatrial_backup") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
        env.update({"HEPATRIAL_HOME": str(tmp_path / "home"), "HEPATRIAL_DATABASE_URL": url})
        yield env


@pytest.mark.parametrize("database", [sqlite_home, postgres_database], ids=["sqlite", "postgresql"])
def test_a_round_trip_gives_back_the_same_content(tmp_path, database):
    with database(tmp_path) as env:
        hepatrial(env, "demo-trial", "--subjects", "2", "--seed", "3")
        out = tmp_path / "trial.backup"
        backed_up = hepatrial(env, "backup", str(out))
        digest = digest_of(backed_up.stdout)
        recorded = json.loads((tmp_path / "trial.backup.digest.json").read_text())
        assert recorded["digest"] == digest.removeprefix("sha256:") and recorded["audit_rows"] > 100

        # a change after the backup: a new API token (a row and its audit row)
        hepatrial(env, "token", "monitor", "after the backup")
        assert digest_of(hepatrial(env, "backup", str(tmp_path / "later.backup")).stdout) != digest

        refused = hepatrial(env, "backup", str(out), check=False)  # never overwrites
        assert refused.returncode == 2 and "already exists" in refused.stderr

        restored = hepatrial(env, "restore", str(out), "--yes")
        assert digest_of(restored.stdout) == digest
        assert "matches the one recorded at backup time" in restored.stdout
        assert "audit trail verified" in restored.stdout
        verified = hepatrial(env, "audit", "verify")
        assert recorded["audit_rows"] == int(verified.stdout.split("verified: ")[1].split()[0].replace(",", ""))


def test_restore_refuses_what_is_not_a_backup_and_asks_first(tmp_path):
    with sqlite_home(tmp_path) as env:
        hepatrial(env, "manage", "migrate")
        junk = tmp_path / "notes.txt"
        junk.write_text("not a database")
        bad = hepatrial(env, "restore", str(junk), "--yes", check=False)
        assert bad.returncode == 2 and "neither a SQLite database nor a pg_dump archive" in bad.stderr
        out = tmp_path / "empty.backup"
        hepatrial(env, "backup", str(out))
        # without --yes it asks; answering no changes nothing
        asked = subprocess.run([sys.executable, "-m", "hepatrial.cli", "restore", str(out)], env=env, input="n\n",
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        assert asked.returncode == 1 and "Replace every row" in asked.stdout
        # a backup whose content is not what was recorded is refused before anything is replaced
        sidecar = tmp_path / "empty.backup.digest.json"
        recorded = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**recorded, "digest": "0" * 64}))
        mismatch = hepatrial(env, "restore", str(out), "--yes", check=False)
        assert mismatch.returncode == 2 and "does not hold what was backed up" in mismatch.stderr
        assert "nothing was restored" in mismatch.stderr
        # a file name with '#' and '?' in it is a file name
        odd = tmp_path / "trial #1?.backup"
        assert "backup of" in hepatrial(env, "backup", str(odd)).stdout and odd.exists()
