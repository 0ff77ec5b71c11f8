"""MELD, MELD-Na (OPTN 2016) and MELD 3.0 (Kim 2021).

Published vectors are named with their source; the others say they are
hand-computed and show the arithmetic.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepatrial.core.scores._common import ScoreInputError, round_half_up
from hepatrial.core.scores.meld import meld, meld_3_0, meld_na

# transplantr R/unit_conversion.R: mg/dL = umol/L / 17.1 (bilirubin), / 88.4 (creatinine).
BILI_UMOL_PER_MG = 17.1
CREAT_UMOL_PER_MG = 88.4


def _meld(bili, creat, inr, dialysis=False):
    return meld(
        bilirubin_mg_dl=bili,
        creatinine_mg_dl=creat,
        inr=inr,
        dialysis_twice_past_week=dialysis,
    )


def _meld_na(bili, creat, inr, na, dialysis=False):
    return meld_na(
        bilirubin_mg_dl=bili,
        creatinine_mg_dl=creat,
        inr=inr,
        sodium_mmol_l=na,
        dialysis_twice_past_week=dialysis,
    )


def _meld3(bili, creat, inr, na, alb, female=False, dialysis=False):
    return meld_3_0(
        bilirubin_mg_dl=bili,
        creatinine_mg_dl=creat,
        inr=inr,
        sodium_mmol_l=na,
        albumin_g_dl=alb,
        female=female,
        dialysis_twice_past_week=dialysis,
    )


# --- MELD: published vectors -------------------------------------------------


def test_meld_ameld_medscape_example():
    # ameld tests/testthat/test_meld.R (also the Medscape MELD example):
    # meld(creatinine = 1.9, bilirubin = 4.2, inr = 1.2) == 20.0391626; round -> 20.
    result = _meld(4.2, 1.9, 1.2)
    assert result.unrounded == pytest.approx(20.0391626, abs=1e-7)
    assert result.meld_i == 20.0
    assert result.value == 20
    assert isinstance(result.value, int)


def test_meld_transplantr_si_example():
    # transplantr tests/testthat/test_liver.R:
    # round(meld(INR = 2.0, bili = 54, creat = 170, dialysis = 0), 3) == 24.798 (SI units).
    result = _meld(54 / BILI_UMOL_PER_MG, 170 / CREAT_UMOL_PER_MG, 2.0)
    assert round(result.unrounded, 3) == 24.798
    # Hand-computed from that: MELD(i) 2.4798 -> 2.5 (tenth) -> x10 = 25.
    assert result.value == 25


def test_meld_ameld_all_labs_below_one():
    # ameld test_meld.R: meld(0.9, 0.9, 0.9) == meld(1, 1, 1), and the vectorised
    # case gives 6.43 for creatinine 0.9 / bilirubin 0.9 / INR 1.
    low = _meld(0.9, 0.9, 0.9)
    assert low.unrounded == pytest.approx(6.43)
    assert low.bounded_inputs["bilirubin_mg_dl"] == 1.0
    assert low.bounded_inputs["creatinine_mg_dl"] == 1.0
    assert low.bounded_inputs["inr"] == 1.0
    # Hand-computed: MELD(i) 0.643 -> 0.6 -> 6.
    assert low.value == 6


def test_meld_ameld_creatinine_cap_and_dialysis():
    # ameld test_meld.R: creatinine 4.1 scores as 4.0; dialysis with creatinine
    # 1.0 scores as creatinine 4.0.
    assert _meld(1, 4.1, 1).unrounded == pytest.approx(_meld(1, 4.0, 1).unrounded)
    dialysed = _meld(1, 1.0, 1, dialysis=True)
    assert dialysed.unrounded == pytest.approx(_meld(1, 4.0, 1).unrounded)
    assert dialysed.bounded_inputs["creatinine_mg_dl"] == 4.0
    # Hand-computed: 10 x (0.957 ln 4 + 0.643) = 10 x 1.9697 = 19.697 -> 19.7 -> 20.
    assert dialysed.value == 20


def test_meld_dialysis_overrides_low_and_high_creatinine():
    assert _meld(2, 0.5, 1.5, dialysis=True).value == _meld(2, 4.0, 1.5).value
    assert _meld(2, 9.0, 1.5, dialysis=True).value == _meld(2, 4.0, 1.5).value


def test_meld_cap_40():
    # Hand-computed: Cr 4, bili 40, INR 5:
    # 0.957 ln4 + 0.378 ln40 + 1.12 ln5 + 0.643 = 1.3267 + 1.3944 + 1.8026 + 0.643
    # = 5.1667 -> 5.2 -> 52 -> capped to 40.
    result = _meld(40, 4, 5)
    assert result.meld_i == 52.0
    assert result.value == 40
    assert result.capped is True
    assert _meld(4.2, 1.9, 1.2).capped is False


# --- MELD-Na -----------------------------------------------------------------


def test_meld_na_ameld_sodium_125():
    # ameld test_meld.R: meld_na(1.9, 4.2, 1.2, sodium = 125, type = "unos", round = TRUE) == 28.
    result = _meld_na(4.2, 1.9, 1.2, 125)
    assert result.value == 28
    # Hand-computed (OPTN, rounded MELD(i)): 20 + 1.32 x 12 - 0.033 x 20 x 12 = 27.92.
    assert result.unrounded == pytest.approx(27.92)
    assert result.sodium_corrected is True


def test_meld_na_ameld_sodium_bounds():
    # ameld test_meld.R (type "unos"): Na 124 scores as 125 and 138 as 137.
    assert _meld_na(4.2, 1.9, 1.2, 124).unrounded == _meld_na(4.2, 1.9, 1.2, 125).unrounded
    assert _meld_na(4.2, 1.9, 1.2, 138).unrounded == _meld_na(4.2, 1.9, 1.2, 137).unrounded
    assert _meld_na(4.2, 1.9, 1.2, 100).bounded_inputs["sodium_mmol_l"] == 125.0
    assert _meld_na(4.2, 1.9, 1.2, 150).bounded_inputs["sodium_mmol_l"] == 137.0
    # Na 137 adds nothing: MELD-Na equals MELD.
    assert _meld_na(4.2, 1.9, 1.2, 137).value == 20


def test_meld_na_ameld_no_correction_at_or_below_11():
    # ameld test_meld.R: with all labs 1.0, Na 137 and Na 125 give the same score.
    high = _meld_na(1, 1, 1, 137)
    low = _meld_na(1, 1, 1, 125)
    assert high.value == low.value == 6
    assert low.sodium_corrected is False


def test_meld_na_threshold_exactly_11_and_12():
    # Hand-computed: bili 3.35 -> 0.378 ln 3.35 + 0.643 = 0.45703 + 0.643 = 1.100
    # -> 1.1 -> MELD(i) 11: not > 11, so Na 125 changes nothing.
    at_11 = _meld_na(3.35, 1, 1, 125)
    assert at_11.meld_i == 11.0
    assert at_11.sodium_corrected is False
    assert at_11.value == 11
    # bili 4.4 -> 0.378 ln 4.4 + 0.643 = 0.56005 + 0.643 = 1.2031 -> 12 (> 11):
    # 12 + 1.32 x 12 - 0.033 x 12 x 12 = 12 + 15.84 - 4.752 = 23.088 -> 23.
    at_12 = _meld_na(4.4, 1, 1, 125)
    assert at_12.meld_i == 12.0
    assert at_12.sodium_corrected is True
    assert at_12.unrounded == pytest.approx(23.088)
    assert at_12.value == 23


def test_meld_na_hand_computed_na_131():
    # Hand-computed: Cr 2, bili 2, INR 1.8, Na 131.
    # MELD(i) = 0.957 ln2 + 0.378 ln2 + 1.12 ln1.8 + 0.643
    #         = 0.66335 + 0.26201 + 0.65832 + 0.643 = 2.2267 -> 2.2 -> 22.
    # MELD-Na = 22 + 1.32 x 6 - 0.033 x 22 x 6 = 22 + 7.92 - 4.356 = 25.564 -> 26.
    # (transplantr's meld_na test uses these inputs but a non-OPTN formula: 26.257.)
    result = _meld_na(2, 2, 1.8, 131)
    assert result.meld_i == 22.0
    assert result.unrounded == pytest.approx(25.564)
    assert result.value == 26


def test_meld_na_ameld_dialysis():
    # ameld test_meld.R: dialysis with creatinine 1.0 equals creatinine 4.0 (Na 137).
    assert (
        _meld_na(1, 1.0, 1, 137, dialysis=True).unrounded
        == _meld_na(1, 4.0, 1, 137).unrounded
    )


def test_meld_na_cap_40():
    # Hand-computed: as test_meld_cap_40, MELD(i) 52; Na 130:
    # 52 + 1.32 x 7 - 0.033 x 52 x 7 = 52 + 9.24 - 12.012 = 49.228 -> 49 -> 40.
    result = _meld_na(40, 4, 5, 130)
    assert result.unrounded == pytest.approx(49.228)
    assert result.value == 40
    assert result.capped is True


# --- MELD 3.0 ----------------------------------------------------------------


def test_meld3_r_package_adult_male_and_female():
    # A public R package's testthat suite for meld3() (test "adult male MELD 3.0 is
    # calculated correctly" / "adult female ..."): male, age 22, creatinine 1.2,
    # bilirubin 2, INR 1.5, Na 130, albumin 3 -> 20; female -> 22.
    # Hand check: 4.56 ln2 + 0.82 x 7 - 0.24 x 7 ln2 + 9.09 ln1.5 + 11.14 ln1.2
    #   + 1.85 x 0.5 - 1.83 x 0.5 ln1.2 + 6
    # = 3.1608 + 5.74 - 1.1645 + 3.6857 + 2.0311 + 0.925 - 0.1668 + 6 = 20.211 -> 20;
    # female + 1.33 = 21.541 -> 22.
    male = _meld3(2, 1.2, 1.5, 130, 3, female=False)
    female = _meld3(2, 1.2, 1.5, 130, 3, female=True)
    assert male.unrounded == pytest.approx(20.211, abs=5e-4)
    assert male.value == 20
    assert female.value == 22
    assert female.unrounded - male.unrounded == pytest.approx(1.33)
    assert male.meld_i is None


# Inputs of the worked examples in Kim 2021 Table 4 (Gastroenterology
# 2021;161:1887), as transcribed in the CU-Anschutz sas-macros meld.sas example
# (age 20; female; bilirubin; Na; INR; creatinine; albumin). The Table's printed
# MELD 3.0 column could not be read here, so the expected values are
# HAND-COMPUTED from the published equation (4 decimals; worked with a calculator, not with this package).
KIM_TABLE4_INPUTS = [
    # female, bili, Na, INR, Cr, alb, expected unrounded, expected value
    (False, 2.5, 131, 1.0, 1.2, 3.8, 15.8099, 16),
    (True, 2.5, 131, 1.0, 1.2, 3.8, 17.1399, 17),
    (False, 6.0, 131, 1.5, 1.5, 3.5, 24.7128, 25),
    (False, 6.0, 131, 1.5, 1.5, 2.2, 26.1532, 26),
    (True, 6.0, 131, 1.5, 1.5, 2.2, 27.4832, 27),
    (False, 12.0, 128, 2.2, 1.8, 2.0, 34.2203, 34),
    (False, 12.0, 128, 2.2, 2.8, 2.0, 37.9295, 38),
    (True, 12.0, 128, 2.2, 2.8, 2.0, 39.2595, 39),
    (True, 12.0, 120, 0.9, 4.5, 3.5, 33.5832, 34),
    (False, 12.0, 120, 0.9, 4.5, 3.5, 32.2532, 32),
]


@pytest.mark.parametrize(
    "female,bili,na,inr,creat,alb,unrounded,value", KIM_TABLE4_INPUTS
)
def test_meld3_kim_table4_inputs_hand_computed(
    female, bili, na, inr, creat, alb, unrounded, value
):
    result = _meld3(bili, creat, inr, na, alb, female=female)
    assert result.unrounded == pytest.approx(unrounded, abs=5e-5)
    assert result.value == value


def test_meld3_kim_table4_first_row_arithmetic():
    # Row 1 by hand: male, bili 2.5, Na 131, INR 1.0, Cr 1.2, albumin 3.8 (-> 3.5):
    # 4.56 ln2.5 = 4.17829; 0.82 x 6 = 4.92; -0.24 x 6 x ln2.5 = -1.31946;
    # 9.09 ln1 = 0; 11.14 ln1.2 = 2.03106; albumin terms 0; + 6  => 15.80989 -> 16.
    result = _meld3(2.5, 1.2, 1.0, 131, 3.8)
    assert result.unrounded == pytest.approx(15.80989, abs=1e-5)
    assert result.bounded_inputs["albumin_g_dl"] == 3.5


def test_meld3_bounds():
    base = dict(bili=2, inr=1.5, na=130, alb=3)
    ref = _meld3(creat=3.0, **base).unrounded
    # Creatinine capped at 3.0 (Kim 2021), not 4.0.
    assert _meld3(creat=3.5, **base).unrounded == ref
    assert _meld3(creat=3.5, **base).bounded_inputs["creatinine_mg_dl"] == 3.0
    # Dialysis sets creatinine to 3.0, whatever was measured.
    assert _meld3(creat=1.2, dialysis=True, **base).unrounded == ref
    assert _meld3(creat=1.2, dialysis=True, **base).value != _meld3(creat=1.2, **base).value
    # Lower bound 1.0 for bilirubin, INR, creatinine.
    assert _meld3(0.4, 0.5, 0.8, 130, 3).unrounded == _meld3(1, 1, 1, 130, 3).unrounded
    # Albumin 1.5-3.5 g/dL; sodium 125-137 mmol/L.
    assert _meld3(2, 1.2, 1.5, 130, 1.0).unrounded == _meld3(2, 1.2, 1.5, 130, 1.5).unrounded
    assert _meld3(2, 1.2, 1.5, 130, 4.5).unrounded == _meld3(2, 1.2, 1.5, 130, 3.5).unrounded
    assert _meld3(2, 1.2, 1.5, 110, 3).unrounded == _meld3(2, 1.2, 1.5, 125, 3).unrounded
    assert _meld3(2, 1.2, 1.5, 145, 3).unrounded == _meld3(2, 1.2, 1.5, 137, 3).unrounded
    # Every value at its healthy bound: only the constant is left.
    assert _meld3(1, 1, 1, 137, 3.5).unrounded == pytest.approx(6.0)


def test_meld3_cap_40():
    # Hand-computed: female, bili 40, INR 4, Cr 3, Na 125, albumin 1.5:
    # 1.33 + 4.56 ln40 + 0.82 x 12 - 0.24 x 12 ln40 + 9.09 ln4 + 11.14 ln3
    # + 1.85 x 2 - 1.83 x 2 ln3 + 6
    # = 1.33 + 16.8214 + 9.84 - 10.6240 + 12.6014 + 12.2384 + 3.7 - 4.0209 + 6 = 47.886
    result = _meld3(40, 3, 4, 125, 1.5, female=True)
    assert result.unrounded == pytest.approx(47.886, abs=1e-3)
    assert result.value == 40
    assert result.capped is True


# --- invalid inputs ----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(bilirubin_mg_dl=0), "bilirubin_mg_dl"),
        (dict(bilirubin_mg_dl=-1.0), "bilirubin_mg_dl"),
        (dict(creatinine_mg_dl=0.0), "creatinine_mg_dl"),
        (dict(inr=float("nan")), "inr"),
        (dict(inr=float("inf")), "inr"),
        (dict(bilirubin_mg_dl="4.2"), "bilirubin_mg_dl"),
        (dict(dialysis_twice_past_week=1), "dialysis_twice_past_week"),
        (dict(dialysis_twice_past_week="no"), "dialysis_twice_past_week"),
    ],
)
def test_meld_invalid_inputs_name_the_field(kwargs, field):
    args = dict(
        bilirubin_mg_dl=4.2, creatinine_mg_dl=1.9, inr=1.2, dialysis_twice_past_week=False
    )
    args.update(kwargs)
    with pytest.raises(ScoreInputError) as info:
        meld(**args)
    assert info.value.field == field
    assert info.value.reason
    assert isinstance(info.value, ValueError)


def test_meld_na_invalid_sodium():
    with pytest.raises(ScoreInputError) as info:
        _meld_na(4.2, 1.9, 1.2, 0)
    assert info.value.field == "sodium_mmol_l"


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(albumin_g_dl=0), "albumin_g_dl"),
        (dict(sodium_mmol_l=-130), "sodium_mmol_l"),
        (dict(female="F"), "female"),
        (dict(female=None), "female"),
        (dict(creatinine_mg_dl=None), "creatinine_mg_dl"),
    ],
)
def test_meld3_invalid_inputs_name_the_field(kwargs, field):
    args = dict(
        bilirubin_mg_dl=2,
        creatinine_mg_dl=1.2,
        inr=1.5,
        sodium_mmol_l=130,
        albumin_g_dl=3,
        female=False,
        dialysis_twice_past_week=False,
    )
    args.update(kwargs)
    with pytest.raises(ScoreInputError) as info:
        meld_3_0(**args)
    assert info.value.field == field


def test_meld_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        meld(4.2, 1.9, 1.2, False)  # type: ignore[misc]


def test_results_are_frozen():
    result = _meld(4.2, 1.9, 1.2)
    with pytest.raises(AttributeError):
        result.value = 21  # type: ignore[misc]


# --- properties --------------------------------------------------------------

labs = st.floats(min_value=0.05, max_value=80, allow_nan=False, allow_infinity=False)
inrs = st.floats(min_value=0.5, max_value=12, allow_nan=False, allow_infinity=False)
sodiums = st.floats(min_value=100, max_value=170, allow_nan=False, allow_infinity=False)
albumins = st.floats(min_value=0.5, max_value=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(b1=labs, b2=labs, creat=labs, inr=inrs, na=sodiums, dialysis=st.booleans())
def test_meld_family_monotone_in_bilirubin(b1, b2, creat, inr, na, dialysis):
    low, high = sorted((b1, b2))
    assert _meld(low, creat, inr, dialysis).value <= _meld(high, creat, inr, dialysis).value
    assert (
        _meld_na(low, creat, inr, na, dialysis).value
        <= _meld_na(high, creat, inr, na, dialysis).value
    )


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    bili=labs, creat=labs, inr=inrs, na=sodiums, alb=albumins,
    female=st.booleans(), dialysis=st.booleans(),
)
def test_meld_family_within_6_and_40(bili, creat, inr, na, alb, female, dialysis):
    for result in (
        _meld(bili, creat, inr, dialysis),
        _meld_na(bili, creat, inr, na, dialysis),
        _meld3(bili, creat, inr, na, alb, female, dialysis),
    ):
        assert isinstance(result.value, int)
        assert 6 <= result.value <= 40
        if result.capped:
            assert result.value == 40
        else:
            assert result.value == int(round_half_up(result.unrounded))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(b1=labs, b2=labs, creat=labs, inr=inrs, na=sodiums, alb=albumins, female=st.booleans())
def test_meld3_monotone_in_bilirubin(b1, b2, creat, inr, na, alb, female):
    low, high = sorted((b1, b2))
    assert _meld3(low, creat, inr, na, alb, female).unrounded <= _meld3(
        high, creat, inr, na, alb, female
    ).unrounded + 1e-12


@settings(max_examples=200, derandomize=True, deadline=None)
@given(bili=labs, creat=labs, inr=inrs, n1=sodiums, n2=sodiums)
def test_meld_na_non_increasing_in_sodium(bili, creat, inr, n1, n2):
    low, high = sorted((n1, n2))
    assert _meld_na(bili, creat, inr, low).value >= _meld_na(bili, creat, inr, high).value


@pytest.mark.parametrize(
    "value,ndigits,expected",
    [
        (2.5, 0, 3.0),  # Python's round(2.5) is 2 (half to even)
        (27.5, 0, 28.0),
        (2.675, 2, 2.68),  # round(2.675, 2) is 2.67 (binary representation)
        (2.05, 1, 2.1),  # a MELD(i) of exactly 2.05 becomes 21, not 20
        (2.04999, 1, 2.0),
        (-2.5, 0, -3.0),
    ],
)
def test_round_half_up_used_by_the_scores(value, ndigits, expected):
    assert round_half_up(value, ndigits) == expected
