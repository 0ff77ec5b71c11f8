"""Screening one candidate: every criterion of NCT05940610 at and around its
boundary, the ACLF and ALF definitions in both directions, and the verdicts.

The boundaries come from the registry page (tests/data/nct05940610-registry-page.txt)
and the protocol's resolved parameters (protocols/nct05940610.yaml).
"""

from __future__ import annotations

import pytest
from builders import candidate, example, with_lab, without_lab

from hepatrial.core.criteria.check import bind
from hepatrial.core.criteria.evaluate import evaluate
from hepatrial.core.screening import CandidateFacts, screen

ASSESSED = "2026-11-20T09:00:00+08:00"
DAY_BEFORE = "2026-11-19T09:00:00+08:00"


def status(protocol, data: dict, criterion: str) -> str:
    result = screen(candidate(data), protocol)
    return next(c for c in result.criteria if c.id == criterion).status


def base() -> dict:
    return example("eligible-aclf")


def test_the_base_candidate_is_eligible(protocol):
    result = screen(candidate(base()), protocol)
    assert result.verdict == "eligible"
    assert [c.id for c in result.criteria] == ["I1", "I2", "I3", "I4", "I5", "E1", "E2", "E3", "E4", "E5"]
    assert all(c.status == ("met" if c.kind == "inclusion" else "not_met") for c in result.criteria)


# --- I1: "aged 18-65 years old" --------------------------------------------------------------
@pytest.mark.parametrize("age, expected", [(17, "not_met"), (18, "met"), (65, "met"), (66, "not_met")])
def test_age_boundaries(protocol, age, expected):
    assert status(protocol, {**base(), "age": age}, "I1") == expected


def test_age_unknown_is_unknown_not_a_guess(protocol):
    data = {**base(), "age": None}
    assert status(protocol, data, "I1") == "unknown"
    assert screen(candidate(data), protocol).verdict == "incomplete"


# --- I3: "TBil >= 171 umol/L or daily increase >= 17.1 umol/L" ----------------------------------
def bilirubin(value, unit, previous=None, previous_at=DAY_BEFORE) -> dict:
    """Base candidate with bilirubin ``value`` now and optionally ``previous`` earlier."""
    data = with_lab(base(), "total_bilirubin", value, unit)
    if previous is not None:
        data = with_lab(data, "total_bilirubin", previous, unit, at=previous_at, replace=False)
    return data


@pytest.mark.parametrize(
    "value, unit, previous, expected",
    [
        (170, "umol/L", 165, "not_met"),  # rise 5 umol/L/day
        (171, "umol/L", 165, "met"),
        (9.9, "mg/dL", 9.7, "not_met"),  # 169.29 umol/L, rise 3.42
        (10, "mg/dL", 9.7, "met"),  # 10 mg/dL is exactly 171 umol/L
    ],
)
def test_bilirubin_threshold_in_both_units(protocol, value, unit, previous, expected):
    assert status(protocol, bilirubin(value, unit, previous), "I3") == expected


@pytest.mark.parametrize("previous, expected", [(152.8, "met"), (152.9, "met"), (153.0, "not_met")])
def test_daily_rise_threshold(protocol, previous, expected):
    # 170 now, previous 24 h earlier: rise = 170 - previous; 17.1 needed (170 - 152.9 is
    # 17.099999999999994 in binary floating point: the rise must still count as 17.1)
    assert status(protocol, bilirubin(170, "umol/L", previous), "I3") == expected


def test_daily_rise_is_scaled_to_24_hours(protocol):
    # +10 umol/L over 12 h = 20 umol/L per 24 h -> met; the same rise over 36 h -> 6.7/24 h
    assert status(protocol, bilirubin(160, "umol/L", 150, "2026-11-19T21:00:00+08:00"), "I3") == "met"
    assert status(protocol, bilirubin(160, "umol/L", 150, "2026-11-18T21:00:00+08:00"), "I3") == "not_met"


def test_daily_rise_ignores_results_closer_than_12_hours(protocol):
    # a result 6 h earlier does not count; with no other, the rise is unknown
    data = bilirubin(160, "umol/L", 100, "2026-11-20T03:00:00+08:00")
    assert status(protocol, data, "I3") == "unknown"
    result = screen(candidate(data), protocol)
    reason = next(c for c in result.criteria if c.id == "I3").reason
    assert "12 h to 7 days before the latest" in reason


def test_latest_ignores_results_older_than_the_lookback(protocol):
    data = with_lab(base(), "total_bilirubin", 250, "umol/L", at="2026-11-16T09:00:00+08:00")  # 96 h old
    facts = CandidateFacts.for_protocol(candidate(data), protocol)
    assert facts.latest_result("total_bilirubin") is None
    assert status(protocol, data, "I3") == "unknown"


def test_latest_is_the_most_recent_result(protocol):
    data = with_lab(base(), "total_bilirubin", 400, "umol/L", at="2026-11-19T09:00:00+08:00")
    data = with_lab(data, "total_bilirubin", 150, "umol/L", at="2026-11-20T08:00:00+08:00", replace=False)
    facts = CandidateFacts.for_protocol(candidate(data), protocol)
    assert facts.latest_result("total_bilirubin").value == 150
    # 150 now, 400 a day earlier: neither 171 reached nor rising
    assert status(protocol, data, "I3") == "not_met"


# --- I4: "PTA between 20% and 40% (or INR between 1.5 and 2.6)" -----------------------------------
@pytest.mark.parametrize("inr, expected", [(1.49, "not_met"), (1.5, "met"), (2.6, "met"), (2.61, "not_met")])
def test_inr_window(protocol, inr, expected):
    data = with_lab(with_lab(base(), "inr", inr), "prothrombin_activity", 45, "%")  # PTA outside
    assert status(protocol, data, "I4") == expected


@pytest.mark.parametrize("pta, expected", [(19, "not_met"), (20, "met"), (40, "met"), (41, "not_met")])
def test_pta_window(protocol, pta, expected):
    data = with_lab(with_lab(base(), "prothrombin_activity", pta, "%"), "inr", 1.2)  # INR outside
    assert status(protocol, data, "I4") == expected


def test_coagulation_one_measure_suffices_and_none_is_unknown(protocol):
    only_pta = without_lab(with_lab(base(), "prothrombin_activity", 30, "%"), "inr")
    assert status(protocol, only_pta, "I4") == "met"
    only_bad_pta = without_lab(with_lab(base(), "prothrombin_activity", 50, "%"), "inr")
    assert status(protocol, only_bad_pta, "I4") == "unknown"  # the INR could still qualify
    neither = without_lab(without_lab(base(), "inr"), "prothrombin_activity")
    assert status(protocol, neither, "I4") == "unknown"


# --- I5: "No HE, or encephalopathy below grade II (including grade II)" ------------------------------
@pytest.mark.parametrize("grade, expected", [(0, "met"), (2, "met"), (3, "not_met"), (4, "not_met")])
def test_encephalopathy_grade(protocol, grade, expected):
    assert status(protocol, {**base(), "encephalopathy_grade": grade}, "I5") == expected


# --- E4: "MELD score >30" (OPTN/UNOS MELD) ---------------------------------------------------------
@pytest.mark.parametrize("creatinine_umol_l, meld, expected", [(90, 30, "not_met"), (100, 31, "met")])
def test_meld_boundary(protocol, creatinine_umol_l, meld, expected):
    # bilirubin 520 umol/L (30.41 mg/dL), INR 2.5: creatinine 90 umol/L -> MELD(i) 2.977 -> 30;
    # 100 umol/L -> 3.078 -> 31 (OPTN MELD, rounded to the tenth, x10)
    data = with_lab(with_lab(base(), "total_bilirubin", 520, "umol/L"), "inr", 2.5)
    data = with_lab(data, "creatinine", creatinine_umol_l, "umol/L")
    result = screen(candidate(data), protocol)
    assert result.scores["meld"].value == meld
    e4 = next(c for c in result.criteria if c.id == "E4")
    assert e4.status == expected
    assert e4.evidence[0].name == "meld" and e4.evidence[0].value == meld
    assert result.verdict == ("not_eligible" if expected == "met" else "eligible")


def test_meld_unknown_without_dialysis_information(protocol):
    data = {**base(), "dialysis_twice_past_week": None}
    assert status(protocol, data, "E4") == "unknown"


# --- the exclusions from history ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, criterion",
    [
        ("liver_cancer", "E1"),
        ("active_bleeding", "E2"),
        ("dic", "E2"),
        ("allergy_plasma_heparin_protamine", "E3"),
        ("heart_disease", "E5"),
        ("lung_disease", "E5"),
        ("blood_disease", "E5"),
        ("autoimmune_disease", "E5"),
        ("diabetes", "E5"),
        ("uncontrolled_infection", "E5"),
    ],
)
def test_each_history_item_excludes(protocol, field, criterion):
    data = base()
    data["history"] = {**data["history"], field: True}
    result = screen(candidate(data), protocol)
    assert next(c for c in result.criteria if c.id == criterion).status == "met"
    assert result.verdict == "not_eligible"
    assert result.summary == f"not eligible: {criterion}"
    data["history"][field] = None
    assert status(protocol, data, criterion) == "unknown"


# --- I2: the ACLF and ALF definitions, each in both directions ---------------------------------------------
def definition(protocol, name: str, data: dict) -> bool | None:
    node, _ = bind(name, protocol.vocabulary())
    return evaluate(node, CandidateFacts.for_protocol(candidate(data), protocol)).value


ACLF_FAILURES = {
    "bilirubin below 10 x ULN": lambda d: with_lab(d, "total_bilirubin", 170, "umol/L"),
    "no coagulopathy": lambda d: with_lab(with_lab(d, "inr", 1.4), "prothrombin_activity", 41, "%"),
    "neither ascites nor encephalopathy": lambda d: {**d, "ascites": "none", "encephalopathy_grade": 0},
    "complication after 4 weeks": lambda d: {**d, "weeks_insult_to_complication": 5},
    "no chronic liver disease": lambda d: {**d, "chronic_liver_disease": False},
}


def test_aclf_definition_met(protocol):
    assert definition(protocol, "aclf", base()) is True


@pytest.mark.parametrize("failure", ACLF_FAILURES)
def test_aclf_definition_not_met(protocol, failure):
    data = ACLF_FAILURES[failure](base())
    assert definition(protocol, "aclf", data) is False
    assert status(protocol, data, "I2") == "not_met"


def test_aclf_boundaries_are_inclusive(protocol):
    data = with_lab(with_lab(base(), "total_bilirubin", 171, "umol/L"), "inr", 1.5)
    data = with_lab({**data, "weeks_insult_to_complication": 4}, "prothrombin_activity", 45, "%")
    assert definition(protocol, "aclf", data) is True
    # PTA 40% with INR 1.4: the coagulopathy rests on PTA alone, read as <= 40%
    data = with_lab(with_lab(base(), "inr", 1.4), "prothrombin_activity", 40, "%")
    assert definition(protocol, "aclf", data) is True


def test_aclf_with_unknown_chronic_liver_disease_is_unknown(protocol):
    # "previously diagnosed or undiagnosed chronic liver disease": a disease first recognised
    # at this presentation is recorded as true; an unrecorded one is not assumed
    data = {**base(), "chronic_liver_disease": None}
    assert definition(protocol, "aclf", data) is None
    assert status(protocol, data, "I2") == "unknown"


def test_aclf_encephalopathy_alone_is_a_complication(protocol):
    assert definition(protocol, "aclf", {**base(), "ascites": "none", "encephalopathy_grade": 1}) is True


def alf() -> dict:
    return example("eligible-alf")


def test_alf_definition_met(protocol):
    assert definition(protocol, "alf", alf()) is True
    assert definition(protocol, "alf", {**alf(), "weeks_symptoms_to_encephalopathy": 8}) is True


@pytest.mark.parametrize(
    "change",
    [{"chronic_liver_disease": True}, {"weeks_symptoms_to_encephalopathy": 9}],
    ids=["pre-existing liver disease", "encephalopathy after 8 weeks"],
)
def test_alf_definition_not_met(protocol, change):
    data = {**alf(), **change}
    assert definition(protocol, "alf", data) is False
    assert status(protocol, data, "I2") == "not_met"


def test_alf_unknown_when_liver_history_is_unknown(protocol):
    data = {**alf(), "chronic_liver_disease": None}
    assert definition(protocol, "alf", data) is None
    assert status(protocol, data, "I2") == "unknown"


def test_presentation_must_match_its_definition(protocol):
    # an ALF patient declared as ACLF meets neither branch of I2
    data = {**alf(), "presentation": "ACLF"}
    assert status(protocol, data, "I2") == "not_met"


# --- verdicts, reasons and evidence ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, verdict",
    [("eligible-aclf", "eligible"), ("eligible-alf", "eligible"), ("excluded-meld", "not_eligible"), ("incomplete", "incomplete")],
)
def test_examples_verdicts(protocol, name, verdict):
    assert screen(candidate(example(name)), protocol).verdict == verdict


def test_not_met_wins_over_unknown(protocol):
    data = {**base(), "age": 70, "encephalopathy_grade": None}
    result = screen(candidate(data), protocol)
    assert result.verdict == "not_eligible"
    assert result.summary == "not eligible: I1"


def test_every_criterion_has_a_one_line_reason_and_evidence(protocol):
    result = screen(candidate(example("eligible-alf")), protocol)
    for c in result.criteria:
        assert c.reason and "\n" not in c.reason
        assert c.evidence, c.id
    i3 = next(c for c in result.criteria if c.id == "I3")
    # reported in mg/dL, compared in umol/L: both are shown
    assert "10.4 mg/dL (177.84 umol/L) >= 171 umol/L" in i3.reason
    lab = next(e for e in i3.evidence if e.source == "lab")
    assert (lab.value, lab.unit, lab.at) == (10.4, "mg/dL", "2026-11-21T06:00:00+08:00")
    assert lab.detail == {"value_canonical": 177.84, "unit_canonical": "umol/L"}


def test_unknown_reason_names_what_is_missing(protocol):
    result = screen(candidate(example("incomplete")), protocol)
    e4 = next(c for c in result.criteria if c.id == "E4")
    assert e4.status == "unknown"
    assert e4.reason.startswith("unknown: MELD not computable: missing")
    assert "creatinine" in e4.reason and "inr" in e4.reason and "dialysis_twice_past_week" in e4.reason


def test_failing_chain_names_the_failing_bound(protocol):
    result = screen(candidate({**base(), "age": 66}), protocol)
    assert next(c for c in result.criteria if c.id == "I1").reason == "age 66 > 65"


def test_json_shape(protocol):
    out = screen(candidate(base()), protocol).to_dict()
    assert set(out) >= {"protocol", "verdict", "criteria", "scores"}
    assert out["protocol"] == "NCT05940610"
    assert set(out["scores"]) == {
        "meld", "meld_na", "meld_3_0", "child_pugh", "clif_c_of", "aclf_grade", "clif_c_aclf", "aarc", "cossh_aclf_ii",
    }  # fmt: skip
    for c in out["criteria"]:
        assert set(c) >= {"id", "kind", "text", "status", "evidence", "reason"}


# --- review findings: each pinned by a test -------------------------------------------------------------------
def test_alf_requires_encephalopathy_at_screening(protocol):
    # the page: "with an onset of encephalopathy within 8 weeks"; AASLD: ALF has encephalopathy
    data = {**alf(), "encephalopathy_grade": 0}
    assert definition(protocol, "alf", data) is False
    assert status(protocol, data, "I2") == "not_met"
    assert screen(candidate(data), protocol).verdict == "not_eligible"


def test_evidence_shows_the_standard_unit_spelling(protocol):
    data = with_lab(base(), "total_bilirubin", 250, "umol/l")
    result = screen(candidate(data), protocol)
    i3 = next(c for c in result.criteria if c.id == "I3")
    assert "total_bilirubin 250 umol/L >= 171 umol/L" in i3.reason
    assert next(e for e in i3.evidence if e.source == "lab").unit == "umol/L"


def test_continuous_scores_are_compared_unrounded(protocol):
    """COSSH-ACLF II 7.3993 is reported as 7.40 but is below a 7.4 cut-off
    (NCT07409259, the sponsor's sibling trial, enrols below 7.4)."""
    data = {**base(), "age": 30, "encephalopathy_grade": 1}
    for test, value, unit in [("inr", 2.0, None), ("neutrophils", 5.0, "10^9/L"), ("total_bilirubin", 250, "umol/L"), ("urea", 13.1, "mmol/L")]:
        data = with_lab(data, test, value, unit)
    facts = CandidateFacts.for_protocol(candidate(data), protocol)
    outcome = facts.score_outcome("cossh_aclf_ii")
    assert outcome.value == 7.4 and 7.399 < outcome.details["unrounded"] < 7.4
    below = evaluate(bind("cossh_aclf_ii() < 7.4", protocol.vocabulary())[0], facts)
    assert below.value is True
    assert below.phrases == ("COSSH-ACLF II 7.4 (unrounded 7.39933) < 7.4",)
    # MELD is an integer score: compared as reported
    assert facts.score("meld").value == facts.score_outcome("meld").value
