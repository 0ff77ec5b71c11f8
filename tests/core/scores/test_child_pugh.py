"""Child-Pugh score (MDCalc boundaries).

No published worked examples with numeric inputs were found; the vectors below
are hand-computed from the MDCalc / CCJM Table 1 point table, with the points
of each component written out.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatrial.core.scores._common import ScoreInputError
from hepatrial.core.scores.child_pugh import child_pugh


def _cp(bili=1.0, alb=4.0, inr=1.0, ascites="none", he=0):
    return child_pugh(
        bilirubin_mg_dl=bili,
        albumin_g_dl=alb,
        inr=inr,
        ascites=ascites,
        encephalopathy_grade=he,
    )


def test_hand_computed_class_a_minimum():
    # bili 1.0 (1) + alb 4.0 (1) + INR 1.0 (1) + no ascites (1) + no HE (1) = 5 -> A.
    result = _cp()
    assert result.value == 5
    assert result.child_class == "A"
    assert result.points == {
        "bilirubin": 1, "albumin": 1, "inr": 1, "ascites": 1, "encephalopathy": 1,
    }


def test_hand_computed_class_b():
    # bili 2.5 (2) + alb 3.0 (2) + INR 1.5 (1) + mild ascites (2) + HE 0 (1) = 8 -> B.
    result = _cp(bili=2.5, alb=3.0, inr=1.5, ascites="mild", he=0)
    assert result.value == 8
    assert result.child_class == "B"


def test_hand_computed_class_c_maximum():
    # bili 5 (3) + alb 2.0 (3) + INR 2.8 (3) + severe ascites (3) + HE 4 (3) = 15 -> C.
    result = _cp(bili=5, alb=2.0, inr=2.8, ascites="severe", he=4)
    assert result.value == 15
    assert result.child_class == "C"


@pytest.mark.parametrize(
    "bili,points",
    [(1.99, 1), (2.0, 2), (2.5, 2), (3.0, 2), (3.01, 3)],
)
def test_bilirubin_boundaries_mdcalc(bili, points):
    # MDCalc: < 2 -> 1, 2-3 -> 2, > 3 -> 3 (2.0 and 3.0 are in the middle band).
    assert _cp(bili=bili).points["bilirubin"] == points


@pytest.mark.parametrize(
    "alb,points",
    [(3.51, 1), (3.5, 2), (3.0, 2), (2.8, 2), (2.79, 3)],
)
def test_albumin_boundaries_mdcalc(alb, points):
    # MDCalc: > 3.5 -> 1, 2.8-3.5 -> 2, < 2.8 -> 3 (2.8 and 3.5 are in the middle band).
    assert _cp(alb=alb).points["albumin"] == points


@pytest.mark.parametrize(
    "inr,points",
    [(1.69, 1), (1.7, 2), (2.3, 2), (2.31, 3)],
)
def test_inr_boundaries_mdcalc(inr, points):
    # MDCalc: < 1.7 -> 1, 1.7-2.3 -> 2, > 2.3 -> 3.
    assert _cp(inr=inr).points["inr"] == points


@pytest.mark.parametrize(
    "ascites,points",
    [("none", 1), ("mild", 2), ("moderate", 3), ("severe", 3)],
)
def test_ascites_points(ascites, points):
    assert _cp(ascites=ascites).points["ascites"] == points


@pytest.mark.parametrize("he,points", [(0, 1), (1, 2), (2, 2), (3, 3), (4, 3)])
def test_encephalopathy_points(he, points):
    assert _cp(he=he).points["encephalopathy"] == points


@pytest.mark.parametrize(
    "kwargs,total,cls",
    [
        # 6 -> A: bilirubin 2.0 adds one point to the minimum of 5.
        (dict(bili=2.0), 6, "A"),
        # 7 -> B: bilirubin 2.0 and albumin 3.5 each add one.
        (dict(bili=2.0, alb=3.5), 7, "B"),
        # 9 -> B: bilirubin 3.0, albumin 2.8, INR 2.3, mild ascites: 2+2+2+2+1.
        (dict(bili=3.0, alb=2.8, inr=2.3, ascites="mild"), 9, "B"),
        # 10 -> C: as above with HE grade 1: 2+2+2+2+2.
        (dict(bili=3.0, alb=2.8, inr=2.3, ascites="mild", he=1), 10, "C"),
    ],
)
def test_class_edges(kwargs, total, cls):
    result = _cp(**kwargs)
    assert result.value == total
    assert result.child_class == cls


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(bili=0), "bilirubin_mg_dl"),
        (dict(alb=-3.0), "albumin_g_dl"),
        (dict(inr=float("nan")), "inr"),
        (dict(ascites="Mild"), "ascites"),
        (dict(ascites="absent"), "ascites"),
        (dict(ascites=None), "ascites"),
        (dict(he=5), "encephalopathy_grade"),
        (dict(he=-1), "encephalopathy_grade"),
        (dict(he=1.5), "encephalopathy_grade"),
        (dict(he=True), "encephalopathy_grade"),
    ],
)
def test_invalid_inputs_name_the_field(kwargs, field):
    with pytest.raises(ScoreInputError) as info:
        _cp(**kwargs)
    assert info.value.field == field


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    bili=st.floats(0.1, 40), alb=st.floats(0.5, 6), inr=st.floats(0.5, 10),
    ascites=st.sampled_from(["none", "mild", "moderate", "severe"]),
    he=st.integers(0, 4),
)
def test_total_and_class_consistent(bili, alb, inr, ascites, he):
    result = _cp(bili=bili, alb=alb, inr=inr, ascites=ascites, he=he)
    assert 5 <= result.value <= 15
    assert result.value == sum(result.points.values())
    expected = "A" if result.value <= 6 else ("B" if result.value <= 9 else "C")
    assert result.child_class == expected


@settings(max_examples=200, derandomize=True, deadline=None)
@given(b1=st.floats(0.1, 40), b2=st.floats(0.1, 40))
def test_monotone_in_bilirubin(b1, b2):
    low, high = sorted((b1, b2))
    assert _cp(bili=low).value <= _cp(bili=high).value
