"""COSSH-ACLF II (Li J et al., J Hepatol 2021;75:1104).

Coefficients confirmed against Zhejiang University's announcement of the paper;
units (bilirubin umol/L, urea mmol/L, neutrophils 10^9/L) and the HE score
coding (1/2/3) are UNVERIFIED against the paper (see cossh.py, docs/scores.md).
No published patient-level example was found, so the vectors are hand-computed
and test the equation as implemented under those assumptions.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatrial.core.scores._common import ScoreInputError
from hepatrial.core.scores.cossh import cossh_aclf_ii, cossh_he_score


def _c(inr=2.0, he=0, neut=5.0, bili=300.0, urea=5.0, age=45.0):
    return cossh_aclf_ii(
        inr=inr,
        encephalopathy_grade=he,
        neutrophils_10e9_l=neut,
        bilirubin_umol_l=bili,
        urea_mmol_l=urea,
        age_years=age,
    )


def test_hand_computed_no_he():
    # 1.649 ln2 = 1.142999; 0.457 x 1 = 0.457; 0.425 ln5 = 0.684011;
    # 0.396 ln300 = 2.258698; 0.576 ln5 = 0.927036; 0.033 x 45 = 1.485
    # total 6.954744 -> 6.95.
    result = _c()
    assert result.he_score == 1
    assert result.unrounded == pytest.approx(6.954744, abs=1e-6)
    assert result.value == 6.95


def test_hand_computed_all_logs_zero():
    # INR 1, neutrophils 1, bilirubin 1, urea 1: only 0.457 x HE score + 0.033 x age.
    # HE grade 3 (score 3), age 60: 1.371 + 1.98 = 3.351 -> 3.35.
    result = _c(inr=1, he=3, neut=1, bili=1, urea=1, age=60)
    assert result.unrounded == pytest.approx(3.351)
    assert result.value == 3.35


def test_hand_computed_near_trial_cutoff():
    # INR 2.2, HE 2 (score 2), neutrophils 4, TBil 250 umol/L, urea 4 mmol/L, age 50:
    # 1.649 ln2.2 = 1.300166; 0.914; 0.425 ln4 = 0.589175; 0.396 ln250 = 2.186499;
    # 0.576 ln4 = 0.798506; 1.65 -> 7.438345 -> 7.44 (>= 7.4).
    result = _c(inr=2.2, he=2, neut=4, bili=250, urea=4, age=50)
    assert result.unrounded == pytest.approx(7.438345, abs=1e-6)
    assert result.value == 7.44


@pytest.mark.parametrize("grade,score", [(0, 1), (1, 2), (2, 2), (3, 3), (4, 3)])
def test_he_score_coding(grade, score):
    assert cossh_he_score(grade) == score
    assert _c(he=grade).he_score == score


def test_he_step_is_0_457():
    assert _c(he=1).unrounded - _c(he=0).unrounded == pytest.approx(0.457)
    assert _c(he=4).unrounded - _c(he=0).unrounded == pytest.approx(0.914)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(inr=0), "inr"),
        (dict(he=5), "encephalopathy_grade"),
        (dict(neut=0), "neutrophils_10e9_l"),
        (dict(bili=-5), "bilirubin_umol_l"),
        (dict(urea=0), "urea_mmol_l"),
        (dict(age=0), "age_years"),
        (dict(age=float("nan")), "age_years"),
    ],
)
def test_invalid_inputs(kwargs, field):
    with pytest.raises(ScoreInputError) as info:
        _c(**kwargs)
    assert info.value.field == field


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    b1=st.floats(5, 900), b2=st.floats(5, 900), inr=st.floats(0.8, 8),
    he=st.integers(0, 4), neut=st.floats(0.1, 40), urea=st.floats(0.5, 60),
    age=st.floats(16, 95),
)
def test_monotone_in_bilirubin_and_value_close_to_unrounded(b1, b2, inr, he, neut, urea, age):
    low, high = sorted((b1, b2))
    r_low = _c(inr=inr, he=he, neut=neut, bili=low, urea=urea, age=age)
    r_high = _c(inr=inr, he=he, neut=neut, bili=high, urea=urea, age=age)
    assert r_low.unrounded <= r_high.unrounded
    assert abs(r_low.value - r_low.unrounded) <= 0.005 + 1e-9
