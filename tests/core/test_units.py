"""Unit conversions, checked against the published factors (shared/reference/liver-scores.md;
R package transplantr R/unit_conversion.R)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hepatrial.core.labs import LAB_TESTS, LabError, to_canonical
from hepatrial.core.units import UnitError, convert, convertible, normalize_unit, round_significant


@pytest.mark.parametrize(
    "value, src, dst, analyte, expected",
    [
        (171, "umol/L", "mg/dL", "total_bilirubin", 10.0),  # bilirubin: mg/dL = umol/L / 17.1
        (10, "mg/dL", "umol/L", "total_bilirubin", 171.0),
        (17.1, "umol/L", "mg/dL", "total_bilirubin", 1.0),
        (88.4, "umol/L", "mg/dL", "creatinine", 1.0),  # creatinine: mg/dL = umol/L / 88.4
        (1.9, "mg/dL", "umol/L", "creatinine", 167.96),
        (30, "g/L", "g/dL", "albumin", 3.0),  # albumin: g/dL = g/L / 10
        (3.5, "g/dL", "g/L", None, 35.0),
        (10, "mmol/L", "mg/dL", "urea", 28.0),  # 1 mmol/L urea = 2.8 mg/dL BUN
        (28, "mg/dL", "mmol/L", "urea", 10.0),
        (134, "mEq/L", "mmol/L", "sodium", 134.0),
    ],
)
def test_published_conversion_factors(value, src, dst, analyte, expected):
    assert convert(value, src, dst, analyte) == expected


def test_molar_to_mass_needs_the_analyte():
    with pytest.raises(UnitError, match="cannot convert umol/L to mg/dL"):
        convert(171, "umol/L", "mg/dL")
    assert not convertible("umol/L", "mg/dL")
    assert convertible("umol/L", "mg/dL", "creatinine")


def test_pta_and_inr_are_never_converted():
    with pytest.raises(UnitError):
        convert(40, "%", "ratio", "inr")


@pytest.mark.parametrize("spelling", ["umol/L", "µmol/L", "μmol/l", "UMOL/L", " umol/L "])
def test_spellings(spelling):
    assert normalize_unit(spelling) == "umol/L"


def test_unknown_unit():
    with pytest.raises(UnitError, match="unknown unit 'furlongs'"):
        normalize_unit("furlongs")


@given(st.integers(min_value=1, max_value=20000).map(lambda n: n / 10))
def test_the_same_amount_in_either_unit_converts_to_the_same_value(umol_l):
    """A value reported in mg/dL (the exact quotient, as a float) converts back to
    its umol/L value exactly: no 170.99999999999997 at a threshold."""
    for analyte, factor in (("total_bilirubin", 17.1), ("creatinine", 88.4)):
        assert convert(umol_l / factor, "mg/dL", "umol/L", analyte) == umol_l
        assert convert(umol_l, "umol/L", "mg/dL", analyte) == round_significant(umol_l / factor)


def test_round_significant():
    assert round_significant(170 - 152.9) == 17.1
    assert round_significant(0.0) == 0.0
    assert round_significant(1e10) == 1e10


def test_lab_catalogue_units_all_convert_to_canonical():
    for test in LAB_TESTS.values():
        for unit in test.accepted_units:
            assert convertible(unit, test.canonical_unit, test.name), (test.name, unit)


def test_to_canonical_refuses_wrong_units():
    assert to_canonical("total_bilirubin", 10, "mg/dL") == 171.0
    assert to_canonical("inr", 1.5, None) == 1.5
    with pytest.raises(LabError, match="total_bilirubin needs a unit"):
        to_canonical("total_bilirubin", 10, None)
    with pytest.raises(LabError, match="not reported in U/L"):
        to_canonical("total_bilirubin", 10, "U/L")
