"""The ``hepatrial`` command, as a user runs it.

Most tests drive ``hepatrial.cli.main`` with click's CliRunner; one runs the
installed console script in a real subprocess. Bad-input files are written to
tmp_path, each derived from examples/eligible-aclf.json by one change.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import click
import pytest
from click.testing import CliRunner, Result

from hepatrial.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PACKAGED_YAML = ROOT / "src" / "hepatrial" / "protocols" / "nct05940610.yaml"
CRITERIA_IDS = ["I1", "I2", "I3", "I4", "I5", "E1", "E2", "E3", "E4", "E5"]
SCORE_NAMES = [
    "meld", "meld_na", "meld_3_0", "child_pugh", "clif_c_of",
    "aclf_grade", "clif_c_aclf", "aarc", "cossh_aclf_ii",
]  # fmt: skip


def run(*args: str) -> Result:
    # $HEPATRIAL_PROTOCOL would change the default protocol: unset it.
    return CliRunner(env={"HEPATRIAL_PROTOCOL": None}).invoke(main, [str(a) for a in args], prog_name="hepatrial")


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


# --- screen ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, code, verdict",
    [
        ("eligible-aclf.json", 0, "eligible"),
        ("eligible-alf.json", 0, "eligible"),
        ("excluded-meld.json", 1, "not_eligible"),
        ("incomplete.json", 3, "incomplete"),
    ],
)
def test_screen_exit_code_and_verdict(name, code, verdict):
    text = run("screen", EXAMPLES / name)
    assert text.exit_code == code, text.output
    assert f"Verdict: {verdict.upper().replace('_', ' ')}" in text.stdout
    assert text.stderr == ""

    result = run("screen", EXAMPLES / name, "--json")
    assert result.exit_code == code
    data = json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout
    assert isinstance(data, dict)
    assert {"protocol", "verdict", "criteria", "scores"} <= set(data)
    assert data["protocol"] == "NCT05940610"
    assert data["verdict"] == verdict
    assert data["candidate"] == example(name)["id"]
    assert [c["id"] for c in data["criteria"]] == CRITERIA_IDS
    assert [c["kind"] for c in data["criteria"]] == ["inclusion"] * 5 + ["exclusion"] * 5
    for c in data["criteria"]:
        assert {"id", "kind", "text", "status", "evidence", "reason"} <= set(c), c
        assert c["status"] in {"met", "not_met", "unknown"}
        assert isinstance(c["evidence"], list)
        assert c["reason"]
    assert list(data["scores"]) == SCORE_NAMES


def test_screen_eligible_aclf_meets_every_inclusion_and_no_exclusion():
    data = json.loads(run("screen", EXAMPLES / "eligible-aclf.json", "--json").stdout)
    status = {c["id"]: c["status"] for c in data["criteria"]}
    assert status == {**dict.fromkeys(CRITERIA_IDS[:5], "met"), **dict.fromkeys(CRITERIA_IDS[5:], "not_met")}
    assert data["summary"] == "eligible: every inclusion criterion met, no exclusion criterion met"
    i1 = data["criteria"][0]
    assert i1["reason"] == "18 <= age 52 <= 65"
    assert i1["evidence"] == [{"source": "field", "name": "age", "value": 52}]


def test_screen_excluded_by_meld_names_the_score_as_evidence():
    result = run("screen", EXAMPLES / "excluded-meld.json", "--json")
    data = json.loads(result.stdout)
    assert data["summary"] == "not eligible: E4"
    e4 = next(c for c in data["criteria"] if c["id"] == "E4")
    assert e4["status"] == "met"
    assert e4["text"] == "MELD score >30"
    [evidence] = e4["evidence"]
    assert (evidence["source"], evidence["name"], evidence["value"]) == ("score", "meld", 38)
    assert evidence["detail"]["inputs"]["total_bilirubin"]["value"] == 520
    assert e4["reason"] == "MELD 38 > 30"
    assert data["scores"]["meld"]["value"] == 38
    # Every other criterion passes: E4 alone excludes.
    assert [c["id"] for c in data["criteria"] if c["id"] != "E4" and c["status"] == ("met" if c["kind"] == "exclusion" else "not_met")] == []


def test_screen_excluded_text_mode_flags_the_excluding_criterion():
    result = run("screen", EXAMPLES / "excluded-meld.json")
    assert result.exit_code == 1
    e4_line = next(line for line in result.stdout.splitlines() if line.startswith("E4"))
    assert "<- EXCLUDES" in e4_line
    assert "-> MELD 38 > 30" in result.stdout
    assert sum("<- EXCLUDES" in line for line in result.stdout.splitlines()) == 1


def test_screen_incomplete_says_what_is_missing():
    data = json.loads(run("screen", EXAMPLES / "incomplete.json", "--json").stdout)
    unknown = {c["id"]: c["reason"] for c in data["criteria"] if c["status"] == "unknown"}
    assert set(unknown) == {"E4", "E5"}
    assert unknown["E5"] == "unknown: history.diabetes not given"
    assert "creatinine" in unknown["E4"] and "inr" in unknown["E4"]
    assert data["summary"] == "incomplete: E4, E5 unknown"


def test_screen_alf_reads_bilirubin_in_mg_dl():
    data = json.loads(run("screen", EXAMPLES / "eligible-alf.json", "--json").stdout)
    i3 = next(c for c in data["criteria"] if c["id"] == "I3")
    lab = next(e for e in i3["evidence"] if e["source"] == "lab")
    assert (lab["value"], lab["unit"]) == (10.4, "mg/dL")
    assert lab["detail"] == {"value_canonical": pytest.approx(177.84), "unit_canonical": "umol/L"}


def test_screen_with_the_protocol_named_or_given_as_a_file():
    default = json.loads(run("screen", EXAMPLES / "eligible-aclf.json", "--json").stdout)
    by_id = run("screen", EXAMPLES / "eligible-aclf.json", "--json", "--protocol", "NCT05940610")
    by_file = run("screen", EXAMPLES / "eligible-aclf.json", "--json", "--protocol", PACKAGED_YAML)
    assert by_id.exit_code == by_file.exit_code == 0
    assert json.loads(by_id.stdout) == json.loads(by_file.stdout) == default


def test_screen_with_a_changed_protocol_file_changes_the_verdict(tmp_path):
    # The protocol is data: lower the MELD cut-off and the ACLF example is excluded.
    text = PACKAGED_YAML.read_text(encoding="utf-8")
    assert "score(params.meld_variant) > 30" in text
    path = tmp_path / "strict.yaml"
    path.write_text(text.replace("score(params.meld_variant) > 30", "score(params.meld_variant) > 20"), encoding="utf-8")
    result = run("screen", EXAMPLES / "eligible-aclf.json", "--protocol", path, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["summary"] == "not eligible: E4"


# --- bad candidate input: exit 2, the field and the problem, no verdict ------------------------------
def _set(key: str, value: Any) -> Callable[[dict], None]:
    return lambda d: d.__setitem__(key, value)


def _lab(index: int, **changes: Any) -> Callable[[dict], None]:
    return lambda d: d["labs"][index].update(changes)


BAD_INPUTS = [
    # (test id, change, field path, words the problem must contain)
    ("unknown-test", _lab(0, test="bilirubin_total"), "labs[0].test", "unknown test 'bilirubin_total'"),
    ("unknown-unit", _lab(0, unit="furlongs"), "labs[0].unit", "unknown unit 'furlongs'"),
    ("wrong-unit-for-test", _lab(3, unit="g/L"), "labs[3].unit", "prothrombin_activity is not reported in g/L"),
    ("missing-unit", _lab(0, unit=None), "labs[0].unit", "total_bilirubin needs a unit"),
    ("age-as-text", _set("age", "52"), "age", "valid integer"),
    ("age-121", _set("age", 121), "age", "less than or equal to 120"),
    ("negative-age", _set("age", -1), "age", "greater than or equal to 0"),
    ("negative-bilirubin", _lab(0, value=-3), "labs[0].value", "impossible for total_bilirubin"),
    ("inr-0.4", _lab(2, value=0.4), "labs[2].value", "0.4 is impossible for inr"),
    ("inr-20.5", _lab(2, value=20.5), "labs[2].value", "20.5 is impossible for inr"),
    ("value-as-text", _lab(2, value="1.9"), "labs[2].value", "valid number"),
    ("encephalopathy-grade-5", _set("encephalopathy_grade", 5), "encephalopathy_grade", "less than or equal to 4"),
    ("grade-as-float", _set("encephalopathy_grade", 1.5), "encephalopathy_grade", "valid integer"),
    ("bad-ascites", _set("ascites", "lots"), "ascites", "'none', 'mild', 'moderate' or 'severe'"),
    ("history-as-text", lambda d: d["history"].update(diabetes="no"), "history.diabetes", "valid boolean"),
    ("malformed-timestamp", _set("assessed_at", "2026-13-45T09:00:00+08:00"), "assessed_at", "valid datetime"),
    ("timestamp-without-offset", _set("assessed_at", "2026-11-20T09:00:00"), "assessed_at", "timezone"),
    ("lab-time-without-offset", _lab(1, at="2026-11-20T07:00:00"), "labs[1].at", "timezone"),
    ("future-assessed-at", _set("assessed_at", "2999-01-01T09:00:00+08:00"), "assessed_at", "is in the future"),
    ("lab-after-assessed-at", _lab(1, at="2026-11-20T10:00:00+08:00"), "labs[1].at", "is after assessed_at 2026-11-20T09:00:00+08:00"),
    ("unknown-top-level-key", _set("favourite_colour", "blue"), "favourite_colour", "unknown field"),
    ("unknown-history-key", lambda d: d["history"].update(gout=True), "history.gout", "unknown field"),
    ("missing-id", lambda d: d.pop("id"), "id", "Field required"),
]


@pytest.fixture
def bad_file(tmp_path, request) -> tuple[Path, str, str]:
    _, change, field, words = request.param
    data = copy.deepcopy(example("eligible-aclf.json"))
    change(data)
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, field, words


@pytest.mark.parametrize("bad_file", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS], indirect=True)
def test_bad_input_text_mode(bad_file):
    path, field, words = bad_file
    result = run("screen", path)
    assert result.exit_code == 2
    assert result.stdout == ""  # no verdict, nothing on stdout
    assert "Verdict" not in result.output
    assert result.stderr.startswith(f"error: bad candidate file {path}\n")
    problem_line = next(line for line in result.stderr.splitlines() if line.startswith(f"  {field}: "))
    assert words in problem_line


@pytest.mark.parametrize("bad_file", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS], indirect=True)
def test_bad_input_json_mode(bad_file):
    path, field, words = bad_file
    result = run("screen", path, "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert "verdict" not in data and "criteria" not in data
    assert data["error"] == f"bad candidate file {path}"
    assert all(set(p) == {"field", "problem"} for p in data["problems"])
    problems = {p["field"]: p["problem"] for p in data["problems"]}
    assert field in problems, problems
    assert words in problems[field]


def test_every_problem_is_reported_at_once(tmp_path):
    data = example("eligible-aclf.json")
    data["age"] = 121
    data["labs"][2]["value"] = 0.4
    path = tmp_path / "two.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = run("screen", path, "--json")
    assert result.exit_code == 2
    assert [p["field"] for p in json.loads(result.stdout)["problems"]] == ["age", "labs[2].value"]


def test_invalid_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"id": "C-9",\n  "age": }\n', encoding="utf-8")
    text = run("screen", path)
    assert text.exit_code == 2 and text.stdout == ""
    assert "(file): not valid JSON" in text.stderr
    assert "line 2 column" in text.stderr
    data = json.loads(run("screen", path, "--json").stdout)
    [problem] = data["problems"]
    assert problem["field"] == "(file)"
    assert problem["problem"].startswith("not valid JSON: Expecting value at line 2 column")


def test_a_duplicate_key_is_refused_not_silently_overwritten(tmp_path):
    # json.loads keeps the last of two "age" keys: a candidate aged 52 would be screened as 30.
    # The protocol loader refuses duplicate keys for the same reason; the candidate file must too.
    text = (EXAMPLES / "eligible-aclf.json").read_text(encoding="utf-8")
    assert '"age": 52,' in text
    path = tmp_path / "dup.json"
    path.write_text(text.replace('"age": 52,', '"age": 52, "age": 30,'), encoding="utf-8")
    result = run("screen", path, "--json")
    assert result.exit_code == 2, result.stdout[:200]
    problems = json.loads(result.stdout)["problems"]
    assert any("age" in p["field"] or "age" in p["problem"] for p in problems)
    assert any("duplicate" in p["problem"] for p in problems)


def test_a_json_file_that_is_not_an_object(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    result = run("screen", path, "--json")
    assert result.exit_code == 2
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["field"] == "(file)"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    text = run("screen", path)
    assert text.exit_code == 2 and text.stdout == ""
    assert f"(file): cannot read {path}: No such file or directory" in text.stderr
    data = json.loads(run("screen", path, "--json").stdout)
    assert data["problems"] == [{"field": "(file)", "problem": f"cannot read {path}: No such file or directory"}]
    assert run("scores", path).exit_code == 2


# --- scores ---------------------------------------------------------------------------------------
def test_scores_json_for_a_complete_candidate():
    result = run("scores", EXAMPLES / "eligible-aclf.json", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert list(data) == SCORE_NAMES
    values = {name: s["value"] for name, s in data.items()}
    # MELD 24, MELD-Na 26, MELD 3.0 26, Child-Pugh 11 (C), AARC 9, COSSH-ACLF II 7.5 for this example.
    assert values == {
        "meld": 24, "meld_na": 26, "meld_3_0": 26, "child_pugh": 11, "clif_c_of": None,
        "aclf_grade": None, "clif_c_aclf": None, "aarc": 9, "cossh_aclf_ii": 7.5,
    }  # fmt: skip
    assert data["child_pugh"]["details"]["child_class"] == "C"
    for name, score in data.items():
        if score["value"] is None:
            assert score["missing"], name
            assert "mean_arterial_pressure_mmhg" in score["missing"]
        else:
            assert isinstance(score["value"], (int, float)) and not isinstance(score["value"], bool)
            assert "missing" not in score


def test_scores_json_for_an_incomplete_candidate_names_missing_inputs():
    data = json.loads(run("scores", EXAMPLES / "incomplete.json", "--json").stdout)
    assert list(data) == SCORE_NAMES
    assert all(s["value"] is None for s in data.values())
    assert data["meld"]["missing"] == ["creatinine", "inr", "dialysis_twice_past_week"]
    assert data["child_pugh"]["missing"] == ["albumin", "inr"]
    assert all(isinstance(s["missing"], list) and s["missing"] for s in data.values())


def test_scores_text_mode():
    result = run("scores", EXAMPLES / "eligible-aclf.json")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Scores for candidate C-001 at 2026-11-20T09:00:00+08:00:"
    assert "  Child-Pugh            11 (child class C)" in lines
    assert "  AARC                  9 (grade II)" in lines
    assert any(line.startswith("  CLIF-C OF") and "(missing renal_replacement_therapy" in line for line in lines)


# --- schema -----------------------------------------------------------------------------------------
def test_schema_candidate_covers_every_example():
    result = run("schema", "candidate")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    props = schema["properties"]
    assert {"id", "assessed_at", "age", "presentation", "labs", "history", "encephalopathy_grade"} <= set(props)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"id", "assessed_at"}
    history = set(schema["$defs"]["History"]["properties"])
    lab = set(schema["$defs"]["LabResult"]["properties"])
    examples = sorted(EXAMPLES.glob("*.json"))
    assert len(examples) >= 4
    for path in examples:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(data) <= set(props), path.name
        assert set(schema["required"]) <= set(data), path.name
        assert set(data.get("history") or {}) <= history, path.name
        for item in data.get("labs") or []:
            assert set(item) <= lab and {"test", "value", "at"} <= set(item), path.name
    try:
        import jsonschema  # not a declared dependency: a stronger check where it is installed
    except ImportError:
        return
    for path in examples:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)


def test_schema_protocol():
    result = run("schema", "protocol")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert {"id", "title", "arms", "interventions", "parameters", "definitions", "criteria"} <= set(schema["properties"])


def test_schema_of_something_unknown():
    result = run("schema", "visit")
    assert result.exit_code == 2
    assert "'visit' is not one of 'candidate', 'protocol'" in result.stderr


# --- protocol show / check ----------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(), ("--protocol", "NCT05940610"), ("--protocol", str(PACKAGED_YAML))])
def test_protocol_show(args):
    result = run("protocol", "show", *args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert lines[0] == "NCT05940610: The Safety and Efficacy of MSC-EVs in Acute/Acute-on-Chronic Liver Failure"
    assert "  MSC-EV group [msc_ev] (Experimental), 10 planned" in lines
    assert "  Non-MSC-EV group [control] (No Intervention), 10 planned" in lines
    assert "days 0, 7, 14, 21" in out
    # Every parameter with its value, then its rationale.
    assert "  dosing_days = 0, 7, 14, 21" in lines
    assert "  bilirubin_uln = 17.1 umol/L" in lines
    assert "  pta_max = 40 %" in lines
    assert "  meld_variant = meld" in lines
    assert "  inr_max = 2.6" in lines
    flat = " ".join(out.split())
    assert "Upper bound of the operational window, inclusive" in flat
    assert 'page: "MELD score >30"' in flat
    for cid in CRITERIA_IDS:
        assert any(line.startswith(f"  {cid}  ") or line == f"  {cid}" for line in lines), cid
    assert "rule: score(params.meld_variant) > 30" in out


def test_protocol_show_json():
    result = run("protocol", "show", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["id"] == "NCT05940610"
    assert [a["id"] for a in data["arms"]] == ["msc_ev", "control"]
    assert data["parameters"]["dosing_days"]["value"] == [0, 7, 14, 21]


def test_protocol_show_an_unknown_protocol():
    text = run("protocol", "show", "--protocol", "NOPE")
    assert text.exit_code == 2 and text.stdout == ""
    assert text.stderr.splitlines() == [
        "error: bad protocol NOPE",
        "  (protocol): no such file, and not a packaged protocol (NCT05940610)",
    ]
    data = json.loads(run("protocol", "show", "--protocol", "NOPE", "--json").stdout)
    assert data["problems"] == [
        {"field": "(protocol)", "line": None, "problem": "no such file, and not a packaged protocol (NCT05940610)"}
    ]
    screen = run("screen", EXAMPLES / "eligible-aclf.json", "--protocol", "NOPE")
    assert screen.exit_code == 2 and "Verdict" not in screen.output


def test_the_protocol_environment_variable_is_read():
    result = CliRunner(env={"HEPATRIAL_PROTOCOL": "NOPE"}).invoke(main, ["protocol", "show"])
    assert result.exit_code == 2
    assert "error: bad protocol NOPE" in result.stderr


def test_protocol_check_the_packaged_file():
    result = run("protocol", "check", PACKAGED_YAML)
    assert result.exit_code == 0
    assert result.stdout == f"OK: {PACKAGED_YAML} is protocol NCT05940610 with 10 criteria, every rule checked.\n"
    data = json.loads(run("protocol", "check", PACKAGED_YAML, "--json").stdout)
    assert data == {"ok": True, "protocol": "NCT05940610", "criteria": 10}


def test_protocol_check_a_broken_file(tmp_path):
    text = PACKAGED_YAML.read_text(encoding="utf-8")
    assert "latest(total_bilirubin) >= 171 umol/L" in text
    broken = text.replace("latest(total_bilirubin) >= 171 umol/L", "latst(total_bilirubin) >= 171 umol/L")
    path = tmp_path / "broken.yaml"
    path.write_text(broken, encoding="utf-8")
    rule_line = next(
        n for n, line in enumerate(broken.splitlines(), 1) if n > broken.splitlines().index("    - id: I3") and "rule:" in line
    )
    result = run("protocol", "check", path)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: 1 problem(s)\n")
    assert f"  line {rule_line}: criteria.inclusion[2].rule: I3: column 1: unknown function 'latst' (did you mean 'latest'?)" in result.stderr
    data = json.loads(run("protocol", "check", path, "--json").stdout)
    [problem] = data["problems"]
    assert (problem["field"], problem["line"]) == ("criteria.inclusion[2].rule", rule_line)


def test_protocol_check_a_missing_file(tmp_path):
    result = run("protocol", "check", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "(file): cannot read: No such file or directory" in result.stderr


# --- help and version ------------------------------------------------------------------------------------
def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


ALL_COMMANDS = [((), main), *_commands(main)]


@pytest.mark.parametrize("path, command", ALL_COMMANDS, ids=[" ".join(p) or "hepatrial" for p, _ in ALL_COMMANDS])
def test_help_of_every_command(path, command):
    for flag in ("--help", "-h"):
        result = run(*path, flag)
        assert result.exit_code == 0
        assert result.stdout.startswith(f"Usage: hepatrial{''.join(' ' + p for p in path)} ")
        first_line = (command.help or "").strip().splitlines()[0]
        assert " ".join(first_line.split()[:4]) in " ".join(result.stdout.split())


def test_the_command_set():
    assert sorted(" ".join(p) for p, _ in _commands(main)) == [
        "analyze", "analyze tte", "audit", "audit verify", "backup", "demo-trial", "import-forms", "manage", "prescreen", "prescreen run", "prescreen synth", "protocol", "protocol check", "protocol show", "randomization",
        "randomization import", "randomization make-list", "randomization verify", "randomization verify-file", "restore",
        "safety", "safety check", "schema", "scores", "screen", "serve", "staff", "staff add", "staff reset-two-factor", "staff role", "staff unlock", "token",
    ]  # fmt: skip


def test_version():
    from hepatrial import __version__

    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"hepatrial, version {__version__}\n"


# --- the real entry point ------------------------------------------------------------------------------------
def test_the_installed_command_in_a_subprocess():
    script = shutil.which("hepatrial", path=str(Path(sys.executable).parent))
    assert script, "the hepatrial console script is not installed next to this Python"
    env = {"PATH": str(Path(sys.executable).parent), "LANG": "C.UTF-8"}
    proc = subprocess.run(
        [script, "screen", "examples/eligible-aclf.json", "--json"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict"] == "eligible"
    assert data["candidate"] == "C-001"
    proc = subprocess.run(
        [script, "screen", "examples/excluded-meld.json"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 1
    verdict_line = next(line for line in proc.stdout.splitlines() if line.startswith("Verdict: "))
    assert verdict_line.startswith("Verdict: NOT ELIGIBLE") and "E4" in verdict_line


def test_an_internal_error_exits_4_never_a_verdict_code(monkeypatch, capsys):
    """A bug must not read as 'not eligible' (exit 1): the entry point maps it to 4."""
    from hepatrial import cli

    def broken_screen(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli, "screen", broken_screen)
    monkeypatch.setattr(sys, "argv", ["hepatrial", "screen", str(EXAMPLES / "eligible-aclf.json")])
    monkeypatch.delenv("HEPATRIAL_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.run()
    assert info.value.code == 4
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated bug" in err


def test_scores_use_the_protocols_lookback(tmp_path):
    yaml_text = (ROOT / "src/hepatrial/protocols/nct05940610.yaml").read_text(encoding="utf-8")
    short = tmp_path / "short-lookback.yaml"
    short.write_text(yaml_text.replace("  lookback_hours: 72\n", "  lookback_hours: 1\n"), encoding="utf-8")
    # eligible-aclf's labs were drawn 2 h before the assessment: outside a 1 h lookback
    data = json.loads(run("scores", str(EXAMPLES / "eligible-aclf.json"), "--json", "--protocol", str(short)).stdout)
    assert data["meld"]["value"] is None and "creatinine" in data["meld"]["missing"]
    default = json.loads(run("scores", str(EXAMPLES / "eligible-aclf.json"), "--json").stdout)
    assert default["meld"]["value"] == 24


@pytest.mark.django_db
def test_safety_check_raises_overdue_alerts_once(personas, randomized):
    from datetime import timedelta

    from django.utils import timezone

    from hepatrial.services.forms import do_save_form
    from hepatrial.web.trial.models import SafetyAlert

    aware = timezone.now() - timedelta(hours=25)
    do_save_form(personas.actor("investigator_a"), randomized, "adverse_events", "adverse_event",
                 {"term": "Sepsis", "onset_date": randomized.anchor_date.isoformat(), "grade": "3", "serious": True,
                  "sae_hospitalization": True, "awareness_datetime": aware.isoformat(), "relationship": "unrelated",
                  "outcome": "recovering"},
                 expected_version=None, visit_date=timezone.localdate())  # fmt: skip
    first = run("safety", "check")
    assert first.exit_code == 0, first.output
    assert "alert: The initial report of the serious adverse event of SYSU3-001 (Sepsis, grade 3)" in first.output
    assert "1 new alert(s); 1 SAE report(s) pending or overdue" in first.output
    again = run("safety", "check")
    assert "0 new alert(s)" in again.output
    assert SafetyAlert.objects.filter(kind="sae_overdue").count() == 1


def test_prescreen_synth_writes_an_extract(tmp_path):
    result = run("prescreen", "synth", "--persons", "300", "--out", str(tmp_path / "omop"), "--end", "2026-11-01", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "300 persons" in result.stdout and (tmp_path / "omop" / "measurement.parquet").exists()
    assert (tmp_path / "omop" / "synth_truth.csv").exists()
    bad = run("prescreen", "synth", "--persons", "3", "--out", str(tmp_path / "x"), "--end", "01/11/2026")
    assert bad.exit_code == 2 and "--end" in bad.output and not (tmp_path / "x").exists()


def test_prescreen_run_prints_the_funnel_and_explains_candidates(tmp_path):
    folder = tmp_path / "omop"
    assert run("prescreen", "synth", "--persons", "1500", "--out", folder, "--end", "2026-11-01", "--seed", "4").exit_code == 0
    result = run("prescreen", "run", folder, "--explain", "1", "--out", tmp_path / "res", "--timezone", "Asia/Shanghai")
    assert result.exit_code == 0, result.output
    assert "patients in the source" in result.stdout and "1,500" in result.stdout
    assert "Assumed dialysis_twice_past_week = false" in result.stdout
    assert re.search(r"^(\d+) candidates\.$", result.stdout, re.M)
    assert re.search(r"^  I3   met +total_bilirubin", result.stdout, re.M)
    assert re.search(r"^  I5   to check +to check: encephalopathy_grade not given", result.stdout, re.M)
    rows = list(csv.DictReader((tmp_path / "res" / "candidates.csv").open(encoding="utf-8")))
    assert rows and {r["I3"] for r in rows} == {"met"} and all(r["disagreements"] == "" for r in rows)
    assert int(re.search(r"^(\d+) candidates\.$", result.stdout, re.M).group(1)) == len(rows)
    days = run("prescreen", "run", folder, "--explain", "0", "--out", tmp_path / "all", "--days")
    assert days.exit_code == 0, days.output
    every_day = list(csv.DictReader((tmp_path / "all" / "days.csv").open(encoding="utf-8")))
    assert len({r["person_id"] for r in every_day}) == 1500 and {r["i5"] for r in every_day} == {"to_check"}
    assert {r["i3"] for r in every_day} == {"met", "not_met", "unknown"}
    assert sum(r["candidate"] == "true" for r in every_day) >= len(rows)
    assert run("prescreen", "run", folder, "--days").exit_code == 2  # --days needs --out
    as_json = run("prescreen", "run", folder, "--json", "--explain", "0")
    data = json.loads(as_json.stdout)
    assert len(data["candidates"]) == len(rows) and data["candidates"][0]["candidate_file"]["assessed_at"] == "2024-11-07T19:48:00Z"
    assert [s["step"] for s in data["funnel"]][:3] == ["patients in the source", "with a lab day", "I1 met"]


def test_prescreen_run_names_a_bad_source_and_prints_sql_for_a_cluster(tmp_path):
    bad = run("prescreen", "run", tmp_path)
    assert bad.exit_code == 2 and "neither an OMOP extract" in bad.output
    zone = run("prescreen", "run", tmp_path, "--timezone", "Mars/Olympus")
    assert zone.exit_code == 2 and "--timezone" in zone.output
    sql = run("prescreen", "run", "--print-sql", "--dialect", "spark", "--schema", "cdm")
    assert sql.exit_code == 0 and "`cdm`.measurement" in sql.stdout.replace('"cdm"', "`cdm`")
    assert "IGNORE NULLS" in sql.stdout and "CREATE TEMPORARY TABLE hepatrial_prescreen" in sql.stdout
