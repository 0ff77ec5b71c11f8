"""The laboratory tests hepatrial knows: name, canonical unit, accepted units
and the range outside which a value is impossible (an input error, not a
clinical finding).

Values are stored in the unit they were reported in and converted to the
test's canonical unit (:func:`to_canonical`) wherever they are compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from hepatrial.core.errors import FieldInputError
from hepatrial.core.units import UnitError, convert, normalize_unit


@dataclass(frozen=True)
class LabTest:
    name: str
    label: str
    canonical_unit: str
    accepted_units: tuple[str, ...]
    #: Values outside [impossible_below, impossible_above] (canonical unit) are
    #: rejected as input errors: they are physically impossible or a unit mix-up.
    impossible_below: float
    impossible_above: float
    #: LOINC codes that mean this test (used by pre-screening over OMOP data).
    loinc: tuple[str, ...] = ()

    @property
    def dimensionless(self) -> bool:
        return self.canonical_unit == "ratio"


def _t(name, label, unit, accepted, lo, hi, loinc=()):
    return LabTest(name, label, unit, tuple(accepted), lo, hi, tuple(loinc))


# The impossible bounds are generous on purpose: they catch typing and unit
# errors (a bilirubin of -3, an INR of 45), never a sick patient's real value.
# INR 0.5..20 is the protocol team's stated limit (issue #2). Floors catch a
# mass-unit value typed with a molar unit: creatinine below 10 umol/L (0.11
# mg/dL; severe cachexia stays above ~18 umol/L) is a mg/dL figure, albumin
# below 5 g/L or haemoglobin below 10 g/L a g/dL one. Bilirubin has no such
# floor: a mg/dL figure read as umol/L is still a possible (normal) value, so
# a bilirubin must carry its unit and the screen shows it beside the value.
LAB_TESTS: dict[str, LabTest] = {
    t.name: t
    for t in (
        _t("total_bilirubin", "Total bilirubin", "umol/L", ["umol/L", "mg/dL"], 0, 2000, ["1975-2", "14631-6"]),
        _t("inr", "INR", "ratio", ["ratio"], 0.5, 20, ["6301-6", "34714-6"]),
        _t("prothrombin_activity", "Prothrombin activity (PTA)", "%", ["%"], 0, 200, ["5894-1"]),
        _t("creatinine", "Creatinine", "umol/L", ["umol/L", "mg/dL"], 10, 3000, ["2160-0", "14682-9"]),
        _t("sodium", "Sodium", "mmol/L", ["mmol/L", "mEq/L"], 80, 220, ["2951-2", "2947-0"]),
        _t("albumin", "Albumin", "g/L", ["g/L", "g/dL"], 5, 100, ["1751-7", "61151-7"]),
        _t("alt", "ALT", "U/L", ["U/L"], 0, 100000, ["1742-6"]),
        _t("ast", "AST", "U/L", ["U/L"], 0, 100000, ["1920-8"]),
        _t("alkaline_phosphatase", "Alkaline phosphatase", "U/L", ["U/L"], 0, 20000, ["6768-6"]),
        _t("platelets", "Platelets", "10^9/L", ["10^9/L"], 0, 5000, ["777-3", "26515-7"]),
        _t("wbc", "White blood cells", "10^9/L", ["10^9/L"], 0, 1000, ["6690-2", "26464-8"]),
        _t("neutrophils", "Neutrophils", "10^9/L", ["10^9/L"], 0, 1000, ["751-8", "26499-4"]),
        _t("urea", "Urea", "mmol/L", ["mmol/L", "mg/dL"], 0, 300, ["22664-7", "3094-0"]),
        _t("lactate", "Lactate", "mmol/L", ["mmol/L", "mg/dL"], 0, 50, ["2524-7", "32693-4"]),
        _t("hemoglobin", "Hemoglobin", "g/L", ["g/L", "g/dL"], 10, 300, ["718-7"]),
    )
}


class LabError(FieldInputError):
    """An unknown test, a unit the test does not accept, or an impossible value."""


def lab_test(name: str) -> LabTest:
    try:
        return LAB_TESTS[name]
    except KeyError:
        raise LabError("test", f"unknown test {name!r}; known: {', '.join(LAB_TESTS)}") from None


def accepted_unit(test: LabTest, unit: str | None) -> str:
    """The canonical spelling of ``unit`` if ``test`` accepts it (None is the
    ratio of a dimensionless test such as INR)."""
    if unit is None or unit == "":
        if test.dimensionless:
            return "ratio"
        raise LabError("unit", f"{test.name} needs a unit ({' or '.join(test.accepted_units)})")
    try:
        spelled = normalize_unit(unit)
    except UnitError as err:
        raise LabError("unit", f"{err.reason} for {test.name}; use {' or '.join(test.accepted_units)}") from None
    if spelled not in test.accepted_units:
        raise LabError("unit", f"{test.name} is not reported in {unit}; use {' or '.join(test.accepted_units)}")
    return spelled


def to_canonical(test_name: str, value: float, unit: str | None) -> float:
    """``value`` of ``test_name`` in ``unit``, expressed in the test's canonical unit."""
    test = lab_test(test_name)
    return convert(value, accepted_unit(test, unit), test.canonical_unit, test.name)
