"""CTCAE v5.0 lab grading (hepatrial.core.safety.ctcae) and the term list.

Published vectors: pharmaverse admiral, ``tests/testthat/test-derive_var_atoxgr.R``
(the stored version at commit 012d2fca, where the expected tables are written
inline), ported row for row for the CTCAE v5 tests of the terms graded here:
"Test 6a: CTCAEv5 Anemia (SI unit)", "Test 8a: CTCAEv5 Leukocytosis (SI unit)",
"Test 12a: CTCAEv5 Alanine aminotransferase increased", "Test 14a: CTCAEv5
Alkaline phosphatase increased", "Test 16a: CTCAEv5 Aspartate aminotransferase
increased", "Test 18a: CTCAEv5 Blood bilirubin increased", "Test 26a: CTCAEv5
Creatinine increased" (rows flagged V5 == "Y"), "Test 34a: CTCAEv5 Hemoglobin
increased (SI unit)" (rows V5 == "Y"), "Test 36a: CTCAEv5 INR increased",
"Test 44a: CTCAEv5 Neutrophil count decreased (SI unit)", "Test 46a: CTCAEv5
Platelet count decreased (SI unit)", "Test 50a: CTCAEv5 White blood cell
decreased (SI unit)", and "Test 68a: CTCAEv5 Hypoalbuminemia (SI unit)" (its
``exp_albd_si`` table, in the fixtures the current test file sources).
Admiral's rows for a wrong or missing unit and a missing AVAL have no
counterpart here (our values are numbers in canonical units) and are left out.
Admiral's INR test assumes anticoagulation ("Take worst case and assume on
anticoagulation", ncictcaev5.json COMMENT), so it is run with
``on_anticoagulation=True``.

The threshold tables below them are hand-derived from CTCAE v5.0 as printed in
admiral ``data-raw/adlb_grading/ncictcaev5.json``: every threshold, exactly at
it and one step beyond.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.safety import (
    CTCAE_TERMS,
    LAB_TERMS,
    CtcaeInputError,
    ctcae_term,
    grade_lab,
    grade_term,
    search_terms,
    terms_for_analyte,
)

ALT = "Alanine aminotransferase increased"
AST = "Aspartate aminotransferase increased"
ALP = "Alkaline phosphatase increased"
BILI = "Blood bilirubin increased"
CREAT = "Creatinine increased"
INR = "INR increased"
ALB = "Hypoalbuminemia"
PLT = "Platelet count decreased"
NEUT = "Neutrophil count decreased"
WBC = "White blood cell decreased"
LEUKO = "Leukocytosis"
ANEMIA = "Anemia"
HGB_UP = "Hemoglobin increased"

ADMIRAL = "admiral tests/testthat/test-derive_var_atoxgr.R"


# --- published vectors: pharmaverse admiral ------------------------------------


def _rows(test, term, rows, **fixed):
    """(source, term, value, kwargs, expected) from (value, expected[, kwargs]) rows."""
    out = []
    for row in rows:
        value, expected = row[0], row[1]
        kwargs = dict(fixed, **(row[2] if len(row) > 2 else {}))
        out.append(pytest.param(term, value, kwargs, expected, id=f"{test}:{value}:{kwargs}"))
    return out


# ALT/AST "expected_alt_ctcv4" with BASE = ANRHI = 40, BNRIND "NORMAL" (baseline normal)
_TRANSAMINASE_NORMAL = [(801, 4), (800, 3), (201, 3), (200, 2), (121, 2), (120, 1), (41, 1), (40, 0)]
# ... and the abnormal-baseline table: BASE = 40, ANRHI = BASE - 1 = 39, BNRIND "HIGH"
_TRANSAMINASE_ABNORMAL = [(801, 4), (800, 3), (201, 3), (200, 2), (121, 2), (120, 1), (60, 1), (59, 0)]
_ALP_NORMAL = [(801, 4), (800, 3), (201, 3), (200, 2), (101, 2), (100, 1), (41, 1), (40, 0)]
_ALP_ABNORMAL = [(801, 4), (800, 3), (201, 3), (200, 2), (101, 2), (100, 1), (80, 1), (79, 0)]
_BILI = [(401, 4), (400, 3), (121, 3), (120, 2), (61, 2), (60, 1), (41, 1), (40, 0)]

ADMIRAL_VECTORS = [
    *_rows("12a ALT normal BL", ALT, _TRANSAMINASE_NORMAL, uln=40, baseline=40),
    *_rows("12a ALT abnormal BL", ALT, _TRANSAMINASE_ABNORMAL, uln=39, baseline=40),
    *_rows("12a ALT ANRHI missing", ALT, [(100, None)]),
    *_rows("16a AST normal BL", AST, _TRANSAMINASE_NORMAL, uln=40, baseline=40),
    *_rows("16a AST abnormal BL", AST, _TRANSAMINASE_ABNORMAL, uln=39, baseline=40),
    *_rows("16a AST ANRHI missing", AST, [(100, None)]),
    *_rows("14a ALP normal BL", ALP, _ALP_NORMAL, uln=40, baseline=40),
    *_rows("14a ALP abnormal BL", ALP, _ALP_ABNORMAL, uln=39, baseline=40),
    *_rows("14a ALP ANRHI missing", ALP, [(100, None)]),
    *_rows("18a bilirubin normal BL", BILI, _BILI, uln=40, baseline=40),
    # 18a: "set BASE to ANRHI then make ANRHI < BASE" -> BASE 40, ANRHI 39, HIGH
    *_rows("18a bilirubin abnormal BL", BILI, _BILI, uln=39, baseline=40),
    *_rows("18a bilirubin ANRHI missing", BILI, [(100, None)]),
    # 26a: columns AVAL, BASE, ANRHI; rows with V5 == "Y"
    *_rows("26a creatinine", CREAT, [
        (241, 4, dict(baseline=241, uln=40)),
        (240, 3, dict(baseline=230, uln=40)),
        (121, 3, dict(baseline=120, uln=40)),
        (120, 2, dict(baseline=119, uln=40)),
        (61, 2, dict(baseline=60, uln=40)),
        (60, 1, dict(baseline=60, uln=40)),
        (41, 1, dict(baseline=41, uln=40)),
        (40, 0, dict(baseline=40, uln=40)),
        # "GRADE derived from AVAL against BASE"
        (42, 3, dict(baseline=6, uln=40)),
        (42, 3, dict(baseline=13.9, uln=40)),
        (42, 2, dict(baseline=14, uln=40)),
        (42.1, 2, dict(baseline=28, uln=40)),
        # "ANRHI missing - AVAL <= BASE cannot grade as NORMAL"
        (42, None, dict(baseline=42, uln=None)),
    ]),
    # 36a: columns AVAL, BASE (worst case: on anticoagulation)
    *_rows("36a INR", INR, [
        (2.51, 3, dict(baseline=2.6)),
        (2.5, 2, dict(baseline=1)),
        (1.51, 2, dict(baseline=1)),
        (1.5, 1, dict(baseline=1)),
        (1.2, 1, dict(baseline=1)),
        (1.19, 0, dict(baseline=1.19)),
        (2.5, 3, dict(baseline=0.99)),
        (1.5, 2, dict(baseline=0.6)),
        (1.5, 2, dict(baseline=0.99)),
        (1.2, 1, dict(baseline=0.8)),
        (1.2, 1, dict(baseline=1.19)),
        (1.2, 0, dict(baseline=1.2)),
        # "BASE missing - AVAL <= 1.2 cannot grade as NORMAL"
        (1.2, None, dict(baseline=None)),
    ], on_anticoagulation=True),
    # 34a: rows with V5 == "Y" (BASE <= ANRHI); ANRHI 65 g/L
    *_rows("34a hemoglobin increased", HGB_UP, [
        (106, 3), (105, 2), (86, 2), (85, 1), (66, 1), (65, 0),
    ], uln=65, baseline=60),
    *_rows("34a hemoglobin increased ANRHI missing", HGB_UP, [(200, None)], baseline=60),
    # 6a: AVAL, ANRLO (g/L)
    *_rows("6a anemia", ANEMIA, [
        (79, 3), (80, 2), (99, 2), (100, 1), (139, 1), (140, 0),
    ], lln=140),
    *_rows("6a anemia ANRLO missing", ANEMIA, [(140, None), (139, None), (100, None), (99, 2), (79, 3)]),
    # 8a: AVAL (10^9/L)
    *_rows("8a leukocytosis", LEUKO, [(101, 3, dict(uln=40)), (100, 0, dict(uln=40)), (99, 0)]),
    # 44a: AVAL, ANRLO (10^9/L)
    *_rows("44a neutrophils", NEUT, [
        (0.49, 4), (0.5, 3), (0.99, 3), (1, 2), (1.49, 2), (1.5, 1), (1.9, 1), (2, 0),
    ], lln=2),
    *_rows("44a neutrophils ANRLO missing", NEUT, [
        (0.49, 4), (0.5, 3), (0.99, 3), (1, 2), (1.49, 2), (1.5, None), (1.9, None), (2, None),
    ]),
    # 46a: AVAL, ANRLO (10^9/L)
    *_rows("46a platelets", PLT, [
        (24, 4), (25, 3), (49, 3), (50, 2), (74, 2), (75, 1), (99, 1), (100, 0),
    ], lln=100),
    *_rows("46a platelets ANRLO missing", PLT, [
        (24, 4), (25, 3), (49, 3), (50, 2), (74, 2), (75, None), (99, None), (100, None),
    ]),
    # 50a: AVAL, ANRLO (10^9/L)
    *_rows("50a WBC decreased", WBC, [
        (0.9, 4), (1, 3), (1.9, 3), (2, 2), (2.9, 2), (3, 1), (4.9, 1), (5, 0),
    ], lln=5),
    *_rows("50a WBC decreased ANRLO missing", WBC, [(0.9, 4), (1, 3), (1.9, 3), (2, 2), (2.9, 2), (3, None)]),
    # 68a exp_albd_si: AVAL, ANRLO (g/L)
    *_rows("68a hypoalbuminemia", ALB, [(19, 3), (20, 2), (29, 2), (30, 1), (39, 1), (40, 0)], lln=40),
    *_rows("68a hypoalbuminemia ANRLO missing", ALB, [(19, 3), (20, 2), (29, 2), (30, None), (39, None), (40, None)]),
]


@pytest.mark.parametrize(("term", "value", "kwargs", "expected"), ADMIRAL_VECTORS)
def test_admiral_published_vectors(term, value, kwargs, expected):
    assert grade_term(term, value, **kwargs).grade == expected


def test_admiral_vectors_cover_every_lab_term():
    assert {p.values[0] for p in ADMIRAL_VECTORS} == set(LAB_TERMS)


# --- every threshold, at it and one step beyond (hand-derived from CTCAE v5.0) ---

BOUNDARIES = [
    # Bilirubin, ULN 17.1 umol/L: 1.5 x 17.1 = 25.65 and 3 x 17.1 = 51.3 are
    # 25.650000000000002 and 51.300000000000004 in binary floating point.
    *_rows("bilirubin", BILI, [
        (17.1, 0), (17.2, 1), (25.65, 1), (25.66, 2), (51.3, 2), (51.31, 3), (171, 3), (171.01, 4),
    ], uln=17.1),
    # Abnormal baseline 100 (> ULN 17.1): > 1.0 / 1.5 / 3.0 / 10.0 x baseline.
    *_rows("bilirubin abnormal BL", BILI, [
        (80, 0), (100, 0), (100.01, 1), (150, 1), (150.01, 2), (300, 2), (300.01, 3), (1000, 3), (1000.01, 4),
    ], uln=17.1, baseline=100),
    *_rows("ALT", ALT, [
        (35, 0), (35.1, 1), (105, 1), (105.1, 2), (175, 2), (175.1, 3), (700, 3), (700.1, 4),
    ], uln=35),
    # Abnormal baseline 70: grade 1 is ">= 1.5 x baseline" (CTCAE "1.5 - 3.0 x baseline").
    *_rows("ALT abnormal BL", ALT, [
        (104.9, 0), (105, 1), (210, 1), (210.1, 2), (350, 2), (350.1, 3), (1400, 3), (1400.1, 4),
    ], uln=35, baseline=70),
    *_rows("AST", AST, [
        (40, 0), (40.1, 1), (120, 1), (120.1, 2), (200, 2), (200.1, 3), (800, 3), (800.1, 4),
    ], uln=40),
    *_rows("AST abnormal BL", AST, [
        (74.9, 0), (75, 1), (150, 1), (150.1, 2), (250, 2), (250.1, 3), (1000, 3), (1000.1, 4),
    ], uln=40, baseline=50),
    *_rows("ALP", ALP, [
        (130, 0), (130.1, 1), (325, 1), (325.1, 2), (650, 2), (650.1, 3), (2600, 3), (2600.1, 4),
    ], uln=130),
    # Abnormal baseline 200: grade 1 is ">= 2.0 x baseline" (CTCAE "2.0 - 2.5 x baseline").
    *_rows("ALP abnormal BL", ALP, [
        (399.9, 0), (400, 1), (500, 1), (500.1, 2), (1000, 2), (1000.1, 3), (4000, 3), (4000.1, 4),
    ], uln=130, baseline=200),
    *_rows("INR", INR, [(1.2, 0), (1.21, 1), (1.5, 1), (1.51, 2), (2.5, 2), (2.51, 3), (19, 3)]),
    *_rows("creatinine x ULN", CREAT, [
        (104, 0), (104.1, 1), (156, 1), (156.1, 2), (312, 2), (312.1, 3), (624, 3), (624.1, 4),
    ], uln=104),
    # x baseline 50: > 1.5 x = 75 is grade 2 even inside the normal range (CTCAE v5 as printed).
    *_rows("creatinine x baseline", CREAT, [(75, 0), (75.1, 2), (150, 2), (150.1, 3)], uln=104, baseline=50),
    *_rows("albumin", ALB, [(35, 0), (34.9, 1), (30, 1), (29.9, 2), (20, 2), (19.9, 3), (5, 3)], lln=35),
    *_rows("platelets", PLT, [
        (150, 0), (149, 1), (75, 1), (74.9, 2), (50, 2), (49.9, 3), (25, 3), (24.9, 4),
    ], lln=150),
    *_rows("neutrophils", NEUT, [
        (1.8, 0), (1.79, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3), (0.5, 3), (0.49, 4),
    ], lln=1.8),
    *_rows("WBC decreased", WBC, [
        (4.0, 0), (3.99, 1), (3.0, 1), (2.99, 2), (2.0, 2), (1.99, 3), (1.0, 3), (0.99, 4),
    ], lln=4.0),
    *_rows("leukocytosis", LEUKO, [(11, 0), (100, 0), (100.1, 3)], uln=11),
    *_rows("anemia", ANEMIA, [(130, 0), (129, 1), (100, 1), (99.9, 2), (80, 2), (79.9, 3), (30, 3)], lln=130),
    *_rows("hemoglobin increased", HGB_UP, [(170, 0), (170.1, 1), (190, 1), (190.1, 2), (210, 2), (210.1, 3)],
           uln=170),
]


@pytest.mark.parametrize(("term", "value", "kwargs", "expected"), BOUNDARIES)
def test_every_threshold_at_and_beyond(term, value, kwargs, expected):
    assert grade_term(term, value, **kwargs).grade == expected


def test_boundaries_cover_every_lab_term():
    assert {p.values[0] for p in BOUNDARIES} == set(LAB_TERMS)


# --- baseline branches ----------------------------------------------------------------


def test_abnormal_baseline_grades_relative_to_baseline_in_aclf():
    # An ACLF patient: bilirubin 300 umol/L at baseline, ULN 21. Day 7: 400.
    normal_rule = grade_term(BILI, 400, uln=21)
    aclf = grade_term(BILI, 400, uln=21, baseline=300)
    assert normal_rule.grade == 4  # > 10 x ULN: every ACLF patient, every day
    assert aclf.grade == 1  # > 1.0 x baseline, not > 1.5 x baseline
    assert aclf.abnormal_baseline is True
    assert aclf.reference == "baseline" and aclf.reference_value == 300
    assert aclf.criterion == "Total bilirubin 400 umol/L > 1.0 x baseline 300 umol/L (abnormal baseline)"


def test_value_above_uln_but_below_an_abnormal_baseline_is_grade_0():
    result = grade_term(ALT, 90, uln=40, baseline=120)
    assert result.grade == 0
    assert result.criterion == "ALT 90 U/L < 1.5 x baseline 120 U/L (abnormal baseline)"


def test_baseline_exactly_at_uln_is_normal():
    result = grade_term(ALT, 121, uln=40, baseline=40)
    assert result.abnormal_baseline is False
    assert result.grade == 2
    assert result.criterion == "ALT 121 U/L > 3.0 x ULN 40 U/L"


def test_no_baseline_grades_against_the_uln():
    result = grade_term(ALT, 250, uln=45)
    assert (result.grade, result.reference, result.abnormal_baseline) == (3, "ULN", False)


def test_the_issue_example_criterion_text():
    result = grade_term(ALT, 250, uln=40, baseline=45)
    assert result.grade == 3
    assert result.criterion == "ALT 250 U/L > 5.0 x baseline 45 U/L (abnormal baseline)"


def test_abnormal_branch_needs_the_uln():
    result = grade_term(BILI, 400, baseline=300)
    assert result.grade is None
    assert "ULN" in result.criterion


# --- creatinine: x ULN and x baseline, the higher wins -----------------------------------


def test_creatinine_baseline_criterion_beats_uln_criterion():
    # 130 umol/L, ULN 104, baseline 40: x ULN gives grade 1, > 3.0 x baseline gives 3.
    result = grade_term(CREAT, 130, uln=104, baseline=40)
    assert result.grade == 3
    assert result.reference == "baseline"
    assert result.criterion == "Creatinine 130 umol/L > 3.0 x baseline 40 umol/L"


def test_creatinine_uln_criterion_beats_baseline_criterion():
    # 650 umol/L, ULN 104, baseline 300: > 6.0 x ULN (624) is grade 4; x baseline only 2.
    result = grade_term(CREAT, 650, uln=104, baseline=300)
    assert (result.grade, result.reference) == (4, "ULN")


def test_creatinine_grade_0_names_both_criteria():
    result = grade_term(CREAT, 70, uln=104, baseline=60)
    assert result.grade == 0
    assert result.criterion == "Creatinine 70 umol/L <= ULN 104 umol/L and <= 1.5 x baseline 60 umol/L"


def test_creatinine_without_uln_is_not_graded_even_when_baseline_criteria_hold():
    # > 3.0 x baseline says at least grade 3, but > 6.0 x ULN (grade 4) cannot be excluded.
    assert grade_term(CREAT, 500, baseline=100).grade is None


# --- INR ----------------------------------------------------------------------------


def test_inr_baseline_criteria_only_on_anticoagulation():
    assert grade_term(INR, 2.5, baseline=0.99).grade == 2
    assert grade_term(INR, 2.5, baseline=0.99, on_anticoagulation=True).grade == 3


def test_inr_aclf_patient_not_anticoagulated_is_graded_on_absolute_values():
    # Baseline INR 2.2 (already grade 2); day 3 INR 2.4: still grade 2, not "x baseline".
    result = grade_term(INR, 2.4, baseline=2.2)
    assert (result.grade, result.reference) == (2, "fixed")
    assert result.criterion == "INR 2.4 > 1.5"
    assert result.max_lab_grade == 3


def test_inr_on_anticoagulation_without_baseline_keeps_a_certain_grade_3():
    assert grade_term(INR, 2.6, on_anticoagulation=True).grade == 3
    assert grade_term(INR, 2.0, on_anticoagulation=True).grade is None


# --- missing reference ranges ---------------------------------------------------------


@pytest.mark.parametrize("term", [BILI, ALT, AST, ALP, CREAT, HGB_UP])
def test_missing_uln_cannot_be_graded(term):
    result = grade_term(term, 1.0)
    assert result.grade is None
    assert result.reference is None
    assert "ULN" in result.criterion


@pytest.mark.parametrize(("term", "normal"), [(ALB, 40), (PLT, 200), (NEUT, 3), (WBC, 6), (ANEMIA, 140)])
def test_missing_lln_cannot_tell_grade_0_from_1(term, normal):
    result = grade_term(term, normal)
    assert result.grade is None
    assert "LLN" in result.criterion


def test_missing_lln_still_grades_values_below_the_fixed_thresholds():
    result = grade_term(PLT, 40)
    assert (result.grade, result.reference, result.reference_value) == (3, "fixed", None)
    assert result.criterion == "Platelets 40 10^9/L < 50 10^9/L"


# --- comparison convention ----------------------------------------------------------


def test_float_noise_does_not_move_a_value_across_a_gt_threshold():
    # 3 * 40.1 is 120.30000000000001 in binary; the threshold is exactly 120.3.
    assert 3 * 40.1 != 120.3
    assert grade_term(ALT, 3 * 40.1, uln=40.1).grade == 1
    assert grade_term(ALT, 120.3, uln=40.1).grade == 1
    assert grade_term(ALT, 120.31, uln=40.1).grade == 2


def test_values_given_in_another_unit_are_converted_first():
    # 5 mg/dL, ULN 1.2 mg/dL: 85.5 umol/L > 3.0 x 20.52 umol/L (61.56).
    result = grade_term(BILI, 5, uln=1.2, unit="mg/dL")
    assert result.grade == 3
    assert (result.value, result.unit, result.reference_value) == (85.5, "umol/L", 20.52)
    # Exactly 3.0 x ULN in mg/dL stays grade 2 after conversion.
    assert grade_term(BILI, 3.6, uln=1.2, unit="mg/dL").grade == 2


# --- clinical grades are not lab-derivable ----------------------------------------------


@pytest.mark.parametrize(("term", "value", "kwargs", "cap"), [
    (ANEMIA, 40, dict(lln=130), 3),
    (ALB, 10, dict(lln=35), 3),
    (LEUKO, 400, {}, 3),
    (INR, 9, {}, 3),
    (HGB_UP, 260, dict(uln=170), 3),
])
def test_lab_grade_stops_where_ctcae_turns_clinical(term, value, kwargs, cap):
    result = grade_term(term, value, **kwargs)
    assert result.grade == cap == result.max_lab_grade
    assert result.at_lab_cap
    assert result.clinical_above


# --- grade_lab and the term table ----------------------------------------------------


def test_grade_lab_gives_every_term_of_an_analyte():
    hb = grade_lab("hemoglobin", 75, lln=120, uln=160)
    assert [g.term for g in hb] == [ANEMIA, HGB_UP]
    assert [g.grade for g in hb] == [3, 0]
    wbc = grade_lab("wbc", 150, lln=4, uln=11)
    assert [(g.term, g.grade) for g in wbc] == [(WBC, 0), (LEUKO, 3)]


def test_every_requested_analyte_is_graded_in_its_canonical_unit():
    analytes = {"total_bilirubin", "alt", "ast", "alkaline_phosphatase", "inr", "creatinine", "albumin",
                "platelets", "neutrophils", "hemoglobin", "wbc"}
    assert {t.analyte for t in LAB_TERMS.values()} == analytes
    for analyte in analytes:
        for spec in terms_for_analyte(analyte):
            assert spec.unit == LAB_TESTS[analyte].canonical_unit


# --- invalid input --------------------------------------------------------------------


@pytest.mark.parametrize(("call", "field"), [
    (lambda: grade_term(ALT, -1, uln=40), "value"),
    (lambda: grade_term(ALT, float("nan"), uln=40), "value"),
    (lambda: grade_term(ALT, True, uln=40), "value"),
    (lambda: grade_term(ALT, "12", uln=40), "value"),
    (lambda: grade_term(ALT, 12, uln=0), "uln"),
    (lambda: grade_term(ALT, 12, uln=-5), "uln"),
    (lambda: grade_term(PLT, 12, lln=450, uln=150), "lln"),
    (lambda: grade_term(PLT, 12, lln=-1), "lln"),
    (lambda: grade_term(ALT, 12, uln=40, baseline=-3), "baseline"),
    (lambda: grade_term("Liver enzymes up", 12, uln=40), "term"),
    (lambda: grade_lab("ammonia", 12), "analyte"),
    (lambda: grade_lab("sodium", 120), "analyte"),
    (lambda: grade_term(BILI, 5, uln=1.2, unit="mmHg"), "unit"),
    (lambda: grade_term(INR, 2, on_anticoagulation="yes"), "on_anticoagulation"),
])
def test_invalid_input_raises_naming_the_field(call, field):
    with pytest.raises(CtcaeInputError) as err:
        call()
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


# --- properties --------------------------------------------------------------------------

_HIGH = [BILI, ALT, AST, ALP, CREAT, INR, LEUKO, HGB_UP]
_LOW = [ALB, PLT, NEUT, WBC, ANEMIA]
_refs = st.floats(min_value=0.5, max_value=500, allow_nan=False)
_vals = st.floats(min_value=0, max_value=5000, allow_nan=False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(term=st.sampled_from(_HIGH + _LOW), a=_vals, b=_vals, ref=_refs, base=_refs)
def test_grade_is_monotonic_in_the_value(term, a, b, ref, base):
    low, high = sorted((a, b))
    kwargs = dict(uln=ref * 2, lln=ref, baseline=base)
    g_low = grade_term(term, low, **kwargs).grade
    g_high = grade_term(term, high, **kwargs).grade
    assert g_low is not None and g_high is not None
    if term in _HIGH:
        assert g_low <= g_high
    else:
        assert g_low >= g_high
    assert 0 <= g_low <= LAB_TERMS[term].max_lab_grade


# --- the searchable term list ---------------------------------------------------------

REQUIRED_TERMS = {
    "Hepatic failure": "Hepatobiliary disorders",
    "Portal hypertension": "Hepatobiliary disorders",
    "Hepatic hemorrhage": "Hepatobiliary disorders",
    "Cholecystitis": "Hepatobiliary disorders",
    "Portal vein thrombosis": "Hepatobiliary disorders",
    "Ascites": "Gastrointestinal disorders",
    "Gastric hemorrhage": "Gastrointestinal disorders",
    "Upper gastrointestinal hemorrhage": "Gastrointestinal disorders",
    "Esophageal varices hemorrhage": "Gastrointestinal disorders",
    "Anemia": "Blood and lymphatic system disorders",
    "Febrile neutropenia": "Blood and lymphatic system disorders",
    "Disseminated intravascular coagulation": "Blood and lymphatic system disorders",
    "Acute kidney injury": "Renal and urinary disorders",
    "Sepsis": "Infections and infestations",
    "Lung infection": "Infections and infestations",
    "Peritoneal infection": "Infections and infestations",
    "Urinary tract infection": "Infections and infestations",
    "Bacteremia": "Infections and infestations",
    "Infusion related reaction": "Injury, poisoning and procedural complications",
    "Allergic reaction": "Immune system disorders",
    "Anaphylaxis": "Immune system disorders",
    "Cytokine release syndrome": "Immune system disorders",
    "Fever": "General disorders and administration site conditions",
    "Death NOS": "General disorders and administration site conditions",
    "Hypotension": "Vascular disorders",
    "Thromboembolic event": "Vascular disorders",
    "Intracranial hemorrhage": "Nervous system disorders",
    "Encephalopathy": "Nervous system disorders",
}


def test_the_list_holds_the_terms_the_trial_needs_with_their_soc():
    for name, soc in REQUIRED_TERMS.items():
        assert ctcae_term(name).soc == soc, name


def test_every_lab_graded_term_is_in_the_list_with_the_same_soc_and_analyte():
    for name, spec in LAB_TERMS.items():
        listed = ctcae_term(name)
        assert listed.soc == spec.soc
        assert listed.lab_analyte == spec.analyte


def test_term_list_is_well_formed():
    names = [t.term for t in CTCAE_TERMS]
    assert len(names) == len(set(names))
    codes = [t.meddra_llt for t in CTCAE_TERMS if t.meddra_llt]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"100\d{5}", c) for c in codes)
    for t in CTCAE_TERMS:
        assert t.grades is None or len(t.grades) == 5


def test_there_is_no_hepatic_encephalopathy_term_but_search_finds_encephalopathy():
    with pytest.raises(KeyError):
        ctcae_term("Hepatic encephalopathy")
    assert search_terms("hepatic encephalopathy")[0].term == "Encephalopathy"


def test_infusion_related_reaction_code_and_grades():
    irr = ctcae_term("infusion related reaction")
    assert irr.meddra_llt == "10051792"
    assert irr.grade_text(1).startswith("Mild transient reaction")
    assert irr.grade_text(5) == "Death"


def test_search_is_case_insensitive_and_ranked():
    assert search_terms("ANEMIA")[0].term == "Anemia"
    hits = [t.term for t in search_terms("hemorrhage")]
    assert "Hepatic hemorrhage" in hits and "Intracranial hemorrhage" in hits
    # a name starting with the text comes before one merely containing it
    sepsis = [t.term for t in search_terms("sep")]
    assert sepsis[0] == "Sepsis"
    # SOC matches come after name matches
    hepato = [t.term for t in search_terms("hepatobiliary")]
    assert hepato[0] == "Hepatobiliary disorders - Other, specify"
    assert "Hepatic failure" in hepato
    assert search_terms("zzz") == []
    assert len(search_terms("", limit=5)) == 5
    assert len(search_terms("")) == len(CTCAE_TERMS)
