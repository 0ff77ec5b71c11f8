"""The score panel: a candidate's latest values, in the units they were reported in,
reach each score in the units its formula is published in.

Expected values are hand-computed from the published formulas and point tables
(shared/reference/liver-scores.md; EASL-CLIF efclif.com; APASL AARC, Sarin 2019),
arithmetic shown. Patient: examples/aclf-organ-failures.json.
"""

from __future__ import annotations

import math

import pytest
from builders import candidate, example, with_lab

from hepatrial.core.scores.panel import CAVEATS, compute_score, score_inputs
from hepatrial.core.screening import candidate_scores

BILI_MG_DL = 230 / 17.1  # 13.45 mg/dL
CREAT_MG_DL = 190 / 88.4  # 2.149 mg/dL


@pytest.fixture(scope="module")
def scores():
    return candidate_scores(candidate(example("aclf-organ-failures")))


def test_every_score_is_computed(scores):
    assert {name: s.missing for name, s in scores.items() if s.value is None} == {}


def test_meld(scores):
    # MELD(i) = 0.957 ln(2.149) + 0.378 ln(13.45) + 1.120 ln(2.1) + 0.643
    meld_i = 0.957 * math.log(CREAT_MG_DL) + 0.378 * math.log(BILI_MG_DL) + 1.120 * math.log(2.1) + 0.643
    assert round(meld_i, 3) == 3.189
    assert scores["meld"].value == 32  # 3.2 x 10


def test_clif_c_of_and_grade(scores):
    # liver bili 13.45 > 12 -> 3; kidney creat 2.149 in 2-3.5 -> 2; brain HE 3 -> 3;
    # coagulation INR 2.1 in 2.0-2.5 -> 2; circulation MAP 68 < 70 -> 2; respiration P/F 280 -> 2
    assert scores["clif_c_of"].value == 14
    # failures: liver (bili >= 12), kidney (creat >= 2), brain (HE 3-4): three -> grade 3
    assert scores["aclf_grade"].value == 3
    assert set(scores["aclf_grade"].details["organ_failures"]) == {"liver", "kidney", "brain"}


def test_clif_c_aclf(scores):
    # 10 x (0.33 x 14 + 0.04 x 60 + 0.63 x ln 12 - 2) = 10 x 6.5855 = 65.855
    expected = 10 * (0.33 * 14 + 0.04 * 60 + 0.63 * math.log(12.0) - 2)
    assert round(expected, 2) == 65.85
    assert scores["clif_c_aclf"].value == 65.9


def test_aarc(scores):
    # bili 13.45 < 15 -> 1; HE 3 -> 3; INR 2.1 -> 2; lactate 2.8 > 2.5 -> 3; creat 2.149 > 1.5 -> 3
    assert scores["aarc"].value == 12
    assert scores["aarc"].details["grade"] == "III"


def test_child_pugh(scores):
    # bili 13.45 > 3 -> 3; albumin 2.6 < 2.8 -> 3; INR 2.1 (1.7-2.3) -> 2; severe ascites -> 3; HE 3 -> 3
    assert scores["child_pugh"].value == 14
    assert scores["child_pugh"].details["child_class"] == "C"


def test_cossh_carries_its_caveat(scores):
    # 1.649 ln 2.1 + 0.457 x 3 + 0.425 ln 9.5 + 0.396 ln 230 + 0.576 ln 14 + 0.033 x 60
    expected = (
        1.649 * math.log(2.1) + 0.457 * 3 + 0.425 * math.log(9.5) + 0.396 * math.log(230)
        + 0.576 * math.log(14) + 0.033 * 60
    )  # fmt: skip
    assert scores["cossh_aclf_ii"].value == round(expected, 2)
    assert scores["cossh_aclf_ii"].to_dict()["caveat"] == CAVEATS["cossh_aclf_ii"]


def test_reported_units_do_not_matter():
    data = example("aclf-organ-failures")
    data = with_lab(data, "total_bilirubin", BILI_MG_DL, "mg/dL", at="2026-11-24T06:00:00+08:00")
    data = with_lab(data, "creatinine", CREAT_MG_DL, "mg/dL", at="2026-11-24T06:00:00+08:00")
    data = with_lab(data, "albumin", 2.6, "g/dL", at="2026-11-24T06:00:00+08:00")
    data = with_lab(data, "urea", 14 * 2.8, "mg/dL", at="2026-11-24T06:00:00+08:00")
    si = candidate_scores(candidate(example("aclf-organ-failures")))
    conventional = candidate_scores(candidate(data))
    assert {n: s.value for n, s in conventional.items()} == {n: s.value for n, s in si.items()}


def test_missing_inputs_are_named_and_either_respiration_measure_suffices():
    facts = {name: None for name in score_inputs("clif_c_of")}
    assert compute_score("clif_c_of", facts).missing == (
        "total_bilirubin", "creatinine", "renal_replacement_therapy", "encephalopathy_grade", "inr",
        "mean_arterial_pressure_mmhg", "vasopressors", "pao2_fio2 or spo2_fio2",
    )  # fmt: skip
    full = {
        "total_bilirubin": 230.0, "creatinine": 190.0, "renal_replacement_therapy": False,
        "encephalopathy_grade": 3, "inr": 2.1, "mean_arterial_pressure_mmhg": 68.0, "vasopressors": False,
    }  # fmt: skip
    assert compute_score("clif_c_of", {**full, "spo2_fio2": 300.0}).value == 14  # SpO2/FiO2 214-357 -> 2
    assert compute_score("clif_c_of", full).missing == ("pao2_fio2 or spo2_fio2",)


def test_an_impossible_score_input_is_an_error_not_a_crash():
    out = compute_score("meld", {"total_bilirubin": 0.0, "creatinine": 80.0, "inr": 1.5, "dialysis_twice_past_week": False})
    assert out.value is None and out.error and "bilirubin_mg_dl" in out.error
