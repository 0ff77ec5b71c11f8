"""APASL AARC score (Choudhury 2017 Hepatol Int; Sarin 2019 APASL update).

No published patient-level worked examples were found; vectors are
hand-computed from the point table with each component's points written out.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatrial.core.scores._common import ScoreInputError
from hepatrial.core.scores.aarc import aarc


def _aarc(bili=5.0, he=0, inr=1.2, lactate=1.0, creat=0.5):
    return aarc(
        bilirubin_mg_dl=bili,
        encephalopathy_grade=he,
        inr=inr,
        lactate_mmol_l=lactate,
        creatinine_mg_dl=creat,
    )


def test_minimum_is_5_grade_i():
    result = _aarc()
    assert result.value == 5
    assert result.grade == "I"
    assert set(result.points.values()) == {1}


def test_maximum_is_15_grade_iii():
    result = _aarc(bili=30, he=4, inr=3.0, lactate=4.0, creat=2.0)
    assert result.value == 15
    assert result.grade == "III"


def test_hand_computed_grade_ii():
    # bili 20 (2) + HE 1 (2) + INR 2.0 (2) + lactate 1.0 (1) + Cr 0.6 (1) = 8 -> II.
    result = _aarc(bili=20, he=1, inr=2.0, lactate=1.0, creat=0.6)
    assert result.points == {
        "bilirubin": 2, "encephalopathy": 2, "inr": 2, "lactate": 1, "creatinine": 1,
    }
    assert result.value == 8
    assert result.grade == "II"


@pytest.mark.parametrize(
    "bili,points", [(14.9, 1), (15.0, 2), (25.0, 2), (25.1, 3)]
)
def test_bilirubin_boundaries(bili, points):
    assert _aarc(bili=bili).points["bilirubin"] == points


@pytest.mark.parametrize("inr,points", [(1.79, 1), (1.8, 2), (2.5, 2), (2.51, 3)])
def test_inr_boundaries(inr, points):
    assert _aarc(inr=inr).points["inr"] == points


@pytest.mark.parametrize(
    "lactate,points", [(0.0, 1), (1.49, 1), (1.5, 2), (2.5, 2), (2.51, 3)]
)
def test_lactate_boundaries(lactate, points):
    assert _aarc(lactate=lactate).points["lactate"] == points


@pytest.mark.parametrize("creat,points", [(0.69, 1), (0.7, 2), (1.5, 2), (1.51, 3)])
def test_creatinine_boundaries(creat, points):
    assert _aarc(creat=creat).points["creatinine"] == points


@pytest.mark.parametrize("he,points", [(0, 1), (1, 2), (2, 2), (3, 3), (4, 3)])
def test_encephalopathy_points(he, points):
    assert _aarc(he=he).points["encephalopathy"] == points


@pytest.mark.parametrize(
    "kwargs,total,grade",
    [
        (dict(bili=15, inr=1.8), 7, "I"),  # 5 + 1 + 1
        (dict(bili=15, inr=1.8, lactate=1.5), 8, "II"),
        (dict(bili=26, inr=2.6, lactate=1.5), 10, "II"),  # 3+1+3+2+1
        (dict(bili=26, inr=2.6, lactate=1.5, creat=0.7), 11, "III"),  # 3+1+3+2+2
    ],
)
def test_grade_edges(kwargs, total, grade):
    result = _aarc(**kwargs)
    assert result.value == total
    assert result.grade == grade


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(bili=0), "bilirubin_mg_dl"),
        (dict(he=7), "encephalopathy_grade"),
        (dict(inr=-1), "inr"),
        (dict(lactate=-0.1), "lactate_mmol_l"),
        (dict(creat=0), "creatinine_mg_dl"),
        (dict(lactate="high"), "lactate_mmol_l"),
    ],
)
def test_invalid_inputs(kwargs, field):
    with pytest.raises(ScoreInputError) as info:
        _aarc(**kwargs)
    assert info.value.field == field


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    bili=st.floats(0.1, 60), he=st.integers(0, 4), inr=st.floats(0.8, 8),
    lactate=st.floats(0, 15), creat=st.floats(0.1, 10),
)
def test_range_and_grade(bili, he, inr, lactate, creat):
    result = _aarc(bili=bili, he=he, inr=inr, lactate=lactate, creat=creat)
    assert 5 <= result.value <= 15
    assert result.value == sum(result.points.values())
    expected = "I" if result.value <= 7 else ("II" if result.value <= 10 else "III")
    assert result.grade == expected
