"""EASL-CLIF: CLIF-C OF, organ failures, ACLF grade (Moreau 2013), CLIF-C ACLF (Jalan 2014).

No published patient-level worked examples were found (efclif.com offers
calculators, not examples); the vectors are hand-computed from the published
thresholds and equation, with the arithmetic shown.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatrial.core.scores._common import ScoreInputError
from hepatrial.core.scores.clif import (
    ORGANS,
    aclf_grade,
    clif_c_aclf,
    clif_c_of,
    clif_organ_failures,
)

NORMAL = dict(
    bilirubin_mg_dl=1.0,
    creatinine_mg_dl=1.0,
    renal_replacement=False,
    encephalopathy_grade=0,
    inr=1.2,
    mean_arterial_pressure_mmhg=80.0,
    vasopressors=False,
    pao2_fio2=400.0,
)


def _of(**changes):
    return clif_c_of(**{**NORMAL, **changes})


def _grade(**changes):
    return aclf_grade(**{**NORMAL, **changes})


# --- CLIF-C OF ---------------------------------------------------------------


def test_all_normal_is_6_without_failures():
    result = _of()
    assert result.value == 6
    assert result.points == {organ: 1 for organ in ORGANS}
    assert result.organ_failures == ()
    assert result.respiration_measure == "pao2_fio2"


def test_all_failed_is_18():
    result = _of(
        bilirubin_mg_dl=20, creatinine_mg_dl=4.0, encephalopathy_grade=4, inr=3.0,
        vasopressors=True, pao2_fio2=150,
    )
    assert result.value == 18
    assert result.organ_failures == ORGANS


@pytest.mark.parametrize(
    "bili,points,failed",
    [(5.99, 1, False), (6.0, 2, False), (11.99, 2, False), (12.0, 3, True)],
)
def test_liver_boundaries(bili, points, failed):
    # Jalan 2014: < 6 / 6 to < 12 / >= 12 mg/dL; liver failure >= 12 (Moreau 2013).
    result = _of(bilirubin_mg_dl=bili)
    assert result.points["liver"] == points
    assert ("liver" in result.organ_failures) is failed


@pytest.mark.parametrize(
    "creat,rrt,points,failed",
    [
        (1.99, False, 1, False),
        (2.0, False, 2, True),  # kidney failure starts at 2.0 (2 points), Moreau 2013
        (3.49, False, 2, True),
        (3.5, False, 3, True),
        (0.8, True, 3, True),  # renal replacement therapy is 3 points and failure
    ],
)
def test_kidney_boundaries(creat, rrt, points, failed):
    result = _of(creatinine_mg_dl=creat, renal_replacement=rrt)
    assert result.points["kidney"] == points
    assert ("kidney" in result.organ_failures) is failed


@pytest.mark.parametrize("he,points", [(0, 1), (1, 2), (2, 2), (3, 3), (4, 3)])
def test_brain_points(he, points):
    result = _of(encephalopathy_grade=he)
    assert result.points["brain"] == points
    assert ("brain" in result.organ_failures) is (he >= 3)


@pytest.mark.parametrize(
    "inr,points", [(1.99, 1), (2.0, 2), (2.49, 2), (2.5, 3)]
)
def test_coagulation_boundaries(inr, points):
    result = _of(inr=inr)
    assert result.points["coagulation"] == points
    assert ("coagulation" in result.organ_failures) is (inr >= 2.5)


@pytest.mark.parametrize(
    "map_mmhg,pressors,points",
    [(70.0, False, 1), (69.9, False, 2), (85.0, True, 3), (55.0, True, 3)],
)
def test_circulation(map_mmhg, pressors, points):
    result = _of(mean_arterial_pressure_mmhg=map_mmhg, vasopressors=pressors)
    assert result.points["circulation"] == points
    assert ("circulation" in result.organ_failures) is pressors


@pytest.mark.parametrize(
    "pf,points", [(300.1, 1), (300.0, 2), (200.1, 2), (200.0, 3), (90.0, 3)]
)
def test_respiration_pao2_fio2(pf, points):
    # Jalan 2014: > 300 / > 200 to <= 300 / <= 200.
    assert _of(pao2_fio2=pf).points["respiration"] == points


@pytest.mark.parametrize(
    "sf,points", [(357.1, 1), (357.0, 2), (214.1, 2), (214.0, 3)]
)
def test_respiration_spo2_fio2(sf, points):
    # Jalan 2014: > 357 / > 214 to <= 357 / <= 214.
    result = _of(pao2_fio2=None, spo2_fio2=sf)
    assert result.points["respiration"] == points
    assert result.respiration_measure == "spo2_fio2"


def test_pao2_fio2_preferred_when_both_given():
    result = _of(pao2_fio2=350, spo2_fio2=150)
    assert result.points["respiration"] == 1
    assert result.respiration_measure == "pao2_fio2"


def test_respiration_needs_a_ratio():
    with pytest.raises(ScoreInputError) as info:
        _of(pao2_fio2=None, spo2_fio2=None)
    assert info.value.field == "pao2_fio2"


def test_organ_failures_function_matches():
    inputs = {**NORMAL, "bilirubin_mg_dl": 13, "inr": 2.6}
    assert clif_organ_failures(**inputs) == ("liver", "coagulation")


# --- ACLF grade (Moreau 2013), every rule ------------------------------------


def test_grade_0_no_organ_failure():
    result = _grade(creatinine_mg_dl=1.8, encephalopathy_grade=2)
    assert result.value == 0
    assert result.organ_failures == ()
    assert result.reason == "no organ failure"


def test_grade_0_single_non_kidney_failure_normal_creatinine_no_he():
    result = _grade(bilirubin_mg_dl=15, creatinine_mg_dl=1.49)
    assert result.value == 0
    assert result.organ_failures == ("liver",)


def test_grade_0_single_brain_failure_creatinine_below_1_5():
    result = _grade(encephalopathy_grade=3, creatinine_mg_dl=1.4)
    assert result.value == 0
    assert result.organ_failures == ("brain",)


def test_grade_1_single_kidney_failure():
    result = _grade(creatinine_mg_dl=2.0)
    assert result.value == 1
    assert result.reason == "single kidney failure"


def test_grade_1_single_kidney_failure_by_rrt():
    result = _grade(creatinine_mg_dl=1.1, renal_replacement=True)
    assert result.value == 1
    assert result.organ_failures == ("kidney",)


@pytest.mark.parametrize("creat", [1.5, 1.9, 1.99])
def test_grade_1_single_liver_failure_with_kidney_dysfunction(creat):
    result = _grade(bilirubin_mg_dl=15, creatinine_mg_dl=creat)
    assert result.value == 1
    assert result.kidney_dysfunction is True
    assert "creatinine 1.5-1.9" in result.reason


@pytest.mark.parametrize("he", [1, 2])
def test_grade_1_single_coagulation_failure_with_mild_he(he):
    result = _grade(inr=2.6, encephalopathy_grade=he)
    assert result.value == 1
    assert result.mild_encephalopathy is True
    assert "HE grade 1-2" in result.reason


def test_grade_1_single_circulation_failure_with_both_modifiers():
    result = _grade(vasopressors=True, creatinine_mg_dl=1.7, encephalopathy_grade=1)
    assert result.value == 1
    assert result.reason == (
        "single circulation failure with creatinine 1.5-1.9 mg/dL and HE grade 1-2"
    )


def test_grade_1_single_respiration_failure_with_kidney_dysfunction():
    result = _grade(pao2_fio2=180, creatinine_mg_dl=1.6)
    assert result.value == 1


def test_grade_0_single_respiration_failure_without_modifiers():
    result = _grade(pao2_fio2=180)
    assert result.value == 0


@pytest.mark.parametrize("he", [3, 4])
def test_grade_1_single_brain_failure_with_kidney_dysfunction(he):
    result = _grade(encephalopathy_grade=he, creatinine_mg_dl=1.5)
    assert result.value == 1
    assert result.reason == "single brain failure with creatinine 1.5-1.9 mg/dL"


def test_grade_2_two_failures():
    result = _grade(bilirubin_mg_dl=13, inr=2.7)
    assert result.value == 2
    assert result.organ_failures == ("liver", "coagulation")


def test_grade_2_kidney_and_brain():
    result = _grade(creatinine_mg_dl=2.2, encephalopathy_grade=3)
    assert result.value == 2


def test_grade_3_three_failures():
    result = _grade(bilirubin_mg_dl=13, inr=2.7, vasopressors=True)
    assert result.value == 3


def test_grade_3_six_failures():
    result = _grade(
        bilirubin_mg_dl=20, creatinine_mg_dl=4.0, encephalopathy_grade=4, inr=3.0,
        vasopressors=True, pao2_fio2=150,
    )
    assert result.value == 3
    assert len(result.organ_failures) == 6


# --- CLIF-C ACLF -------------------------------------------------------------


def test_clif_c_aclf_hand_computed():
    # Organ points: liver 3 (bili 15), kidney 2 (Cr 2.5), brain 2 (HE 1),
    # coagulation 2 (INR 2.2), circulation 1 (MAP 75), respiration 1 (P/F 350) = 11.
    # 10 x (0.33 x 11 + 0.04 x 55 + 0.63 x ln 10 - 2)
    # = 10 x (3.63 + 2.2 + 0.63 x 2.302585 - 2) = 10 x (3.63 + 2.2 + 1.450629 - 2)
    # = 52.80629 -> 52.8.
    result = clif_c_aclf(
        bilirubin_mg_dl=15, creatinine_mg_dl=2.5, renal_replacement=False,
        encephalopathy_grade=1, inr=2.2, mean_arterial_pressure_mmhg=75,
        vasopressors=False, pao2_fio2=350, age_years=55, wbc_10e9_l=10,
    )
    assert result.clif_c_of.value == 11
    assert result.clif_c_of.organ_failures == ("liver", "kidney")
    assert result.unrounded == pytest.approx(52.80629, abs=1e-5)
    assert result.value == 52.8


def test_clif_c_aclf_hand_computed_wbc_1():
    # OF 6, age 50, WBC 1 (ln 1 = 0): 10 x (1.98 + 2.0 + 0 - 2) = 19.8.
    result = clif_c_aclf(**NORMAL, age_years=50, wbc_10e9_l=1.0)
    assert result.unrounded == pytest.approx(19.8)
    assert result.value == 19.8


def test_clif_c_aclf_rounds_half_up_to_one_decimal():
    # OF 6, age 40, WBC e^(0.05/6.3): 10 x (1.98 + 1.6 + 0.63 x ln WBC - 2) = 15.85.
    wbc = math.exp(0.05 / 6.3)
    result = clif_c_aclf(**NORMAL, age_years=40, wbc_10e9_l=wbc)
    assert result.unrounded == pytest.approx(15.85)
    assert result.value in (15.8, 15.9)  # binary float sits either side of .85
    assert abs(result.value - result.unrounded) <= 0.05 + 1e-9


@pytest.mark.parametrize(
    "changes,field",
    [
        (dict(age_years=0), "age_years"),
        (dict(wbc_10e9_l=0), "wbc_10e9_l"),
        (dict(wbc_10e9_l=-3), "wbc_10e9_l"),
    ],
)
def test_clif_c_aclf_invalid(changes, field):
    args = {**NORMAL, "age_years": 50, "wbc_10e9_l": 8.0, **changes}
    with pytest.raises(ScoreInputError) as info:
        clif_c_aclf(**args)
    assert info.value.field == field


@pytest.mark.parametrize(
    "changes,field",
    [
        (dict(bilirubin_mg_dl=0), "bilirubin_mg_dl"),
        (dict(creatinine_mg_dl=-1), "creatinine_mg_dl"),
        (dict(renal_replacement="yes"), "renal_replacement"),
        (dict(encephalopathy_grade=5), "encephalopathy_grade"),
        (dict(inr=0), "inr"),
        (dict(mean_arterial_pressure_mmhg=0), "mean_arterial_pressure_mmhg"),
        (dict(vasopressors=0), "vasopressors"),
        (dict(pao2_fio2=-10), "pao2_fio2"),
        (dict(pao2_fio2=None, spo2_fio2=0), "spo2_fio2"),
    ],
)
def test_clif_c_of_invalid(changes, field):
    with pytest.raises(ScoreInputError) as info:
        _of(**changes)
    assert info.value.field == field


# --- properties --------------------------------------------------------------

clif_inputs = st.fixed_dictionaries(
    {
        "bilirubin_mg_dl": st.floats(0.1, 50),
        "creatinine_mg_dl": st.floats(0.1, 10),
        "renal_replacement": st.booleans(),
        "encephalopathy_grade": st.integers(0, 4),
        "inr": st.floats(0.8, 8),
        "mean_arterial_pressure_mmhg": st.floats(30, 130),
        "vasopressors": st.booleans(),
        "pao2_fio2": st.one_of(st.none(), st.floats(40, 600)),
        "spo2_fio2": st.floats(60, 480),
    }
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(inputs=clif_inputs)
def test_of_range_and_grade_follows_failure_count(inputs):
    of = clif_c_of(**inputs)
    assert 6 <= of.value <= 18
    grade = aclf_grade(**inputs)
    assert grade.organ_failures == of.organ_failures
    n = len(of.organ_failures)
    if n >= 3:
        assert grade.value == 3
    elif n == 2:
        assert grade.value == 2
    elif n == 0:
        assert grade.value == 0
    else:
        assert grade.value in (0, 1)
        if of.organ_failures == ("kidney",):
            assert grade.value == 1
