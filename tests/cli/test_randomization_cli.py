"""``hepatrial randomization make-list`` and ``verify-file``, as the statistician runs them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hepatrial.cli import main
from hepatrial.core.protocol import load_protocol
from hepatrial.core.randomization import make_list, read_list

ROOT = Path(__file__).resolve().parents[2]
PACKAGED_YAML = ROOT / "src" / "hepatrial" / "protocols" / "nct05940610.yaml"
SEED = "9081726354321987654"


def run(*args: str) -> Result:
    return CliRunner(env={"HEPATRIAL_PROTOCOL": None}).invoke(main, [str(a) for a in args], prog_name="hepatrial")


@pytest.fixture
def made(tmp_path) -> tuple[Path, Result]:
    out = tmp_path / "list.csv"
    result = run("randomization", "make-list", "--seed", SEED, "--sites", "SYSU3,GZ2", "--out", out)
    return out, result


def test_make_list_writes_the_list_and_prints_digest_and_counts(made):
    out, result = made
    assert result.exit_code == 0, result.output
    alist = read_list(out)
    expected = make_list(load_protocol().randomization, sites=["SYSU3", "GZ2"], seed=int(SEED), protocol_id="NCT05940610")
    assert alist == expected
    lines = result.stdout.splitlines()
    assert lines[0] == f"Wrote {out}: protocol NCT05940610, 2 site(s) x 2 strata, {len(alist.rows)} slots"
    assert lines[1] == f"sha256: {alist.digest}"
    assert lines[3].split() == ["site", "stratum", "slots", "blocks", "msc_ev", "control"]
    table = [line.split() for line in lines[4:8]]
    assert [row[:2] for row in table] == [["SYSU3", "ACLF"], ["SYSU3", "ALF"], ["GZ2", "ACLF"], ["GZ2", "ALF"]]
    for site, stratum, slots, blocks, msc_ev, control in table:
        rows = alist.cells()[(site, stratum)]
        assert (int(slots), int(blocks)) == (len(rows), rows[-1].block)
        assert int(msc_ev) == int(control) == len(rows) // 2
    assert "Keep this file and the seed secret" in result.stdout
    assert result.stderr == ""  # a long seed: no warning


def test_make_list_json(tmp_path):
    out = tmp_path / "l.csv"
    result = run("randomization", "make-list", "--seed", SEED, "--sites", "SYSU3", "--out", out, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["sha256"] == read_list(out).digest
    assert data["protocol"] == "NCT05940610"
    assert [(c["site"], c["stratum"]) for c in data["cells"]] == [("SYSU3", "ACLF"), ("SYSU3", "ALF")]
    assert all(c["arms"]["msc_ev"] == c["arms"]["control"] and c["slots"] >= 20 for c in data["cells"])


def test_make_list_refuses_to_overwrite(made):
    out, _ = made
    before = out.read_bytes()
    result = run("randomization", "make-list", "--seed", "1", "--sites", "SYSU3", "--out", out)
    assert result.exit_code == 2
    assert "exists; a list file is never overwritten" in result.stderr
    assert out.read_bytes() == before


@pytest.mark.parametrize("seed", ["-1", "abc", "1.5", ""])
def test_make_list_refuses_a_bad_seed(tmp_path, seed):
    out = tmp_path / "l.csv"
    result = run("randomization", "make-list", "--seed", seed, "--sites", "SYSU3", "--out", out)
    assert result.exit_code == 2
    assert "--seed" in result.stderr
    assert not out.exists()


def test_a_short_seed_is_warned_about(tmp_path):
    result = run("randomization", "make-list", "--seed", "42", "--sites", "SYSU3", "--out", tmp_path / "l.csv")
    assert result.exit_code == 0
    assert "warning: seed 42 is below 2^32" in result.stderr


@pytest.mark.parametrize("sites, problem", [("SYSU3,SYSU3", "given twice"), ("SYSU3,,GZ2", "site ''"), ("SY SU3", "site 'SY SU3'")])
def test_make_list_refuses_bad_sites(tmp_path, sites, problem):
    out = tmp_path / "l.csv"
    result = run("randomization", "make-list", "--seed", SEED, "--sites", sites, "--out", out)
    assert result.exit_code == 2
    assert "--sites" in result.stderr and problem in result.stderr
    assert not out.exists()


def test_make_list_needs_a_randomization_section(tmp_path):
    text = PACKAGED_YAML.read_text(encoding="utf-8")
    start = text.index("\nrandomization:")
    end = text.index("\nsource:")
    protocol = tmp_path / "p.yaml"
    protocol.write_text(text[:start] + "\n" + text[end:], encoding="utf-8")
    result = run("randomization", "make-list", "--protocol", protocol, "--seed", SEED, "--sites", "A", "--out", tmp_path / "l.csv")
    assert result.exit_code == 2
    assert "no randomization section" in result.stderr


def test_verify_file_ok(made):
    out, _ = made
    digest = read_list(out).digest
    result = run("randomization", "verify-file", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: {out} is an allocation list for NCT05940610")
    assert "(structure only: no --protocol)" in result.stdout
    assert f"sha256: {digest}" in result.stdout
    result = run("randomization", "verify-file", out, "--protocol", "NCT05940610")
    assert result.exit_code == 0
    assert "checked against protocol NCT05940610" in result.stdout
    assert "The seed and the protocol regenerate exactly this list." in result.stdout
    data = json.loads(run("randomization", "verify-file", out, "--protocol", PACKAGED_YAML, "--json").stdout)
    assert data == {
        "ok": True, "file": str(out), "protocol": "NCT05940610", "sha256": digest, "rows": len(read_list(out).rows),
        "sites": ["SYSU3", "GZ2"], "strata": ["ACLF", "ALF"], "checked_against_protocol": True, "seed_reproduces": True,
    }  # fmt: skip


def _flip_line(out: Path, index: int, redigest: bool) -> None:
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    arm = lines[index].rsplit(",", 1)[1]
    lines[index] = lines[index].rsplit(",", 1)[0] + ("," + ("control" if arm == "msc_ev" else "msc_ev"))
    if redigest:
        lines[4] = "# sha256: " + hashlib.sha256("\n".join(lines[5:]).encode("utf-8")).hexdigest()
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_verify_file_finds_a_changed_arm(made):
    out, _ = made
    _flip_line(out, 8, redigest=False)
    result = run("randomization", "verify-file", out)
    assert result.exit_code == 2
    assert f"error: {out} is not a valid allocation list" in result.stderr
    assert "line 5: sha256: digest mismatch" in result.stderr


def test_verify_file_finds_an_unbalanced_block_with_its_line(made):
    out, _ = made
    _flip_line(out, 8, redigest=True)
    result = run("randomization", "verify-file", out, "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    (problem,) = data["problems"]
    assert problem["field"] == "arm"
    assert problem["line"] <= 9 and "is unbalanced" in problem["problem"]


def test_verify_file_against_another_protocol_id(made, tmp_path):
    out, _ = made
    text = PACKAGED_YAML.read_text(encoding="utf-8").replace("\nid: NCT05940610\n", "\nid: OTHER1\n", 1)
    other = tmp_path / "other.yaml"
    other.write_text(text, encoding="utf-8")
    result = run("randomization", "verify-file", out, "--protocol", other)
    assert result.exit_code == 2
    assert "line 2: protocol: the list is for protocol NCT05940610, not OTHER1" in result.stderr


def test_verify_file_missing(tmp_path):
    result = run("randomization", "verify-file", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "(file): cannot read" in result.stderr
