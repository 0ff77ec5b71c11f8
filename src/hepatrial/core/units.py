"""Units of clinical chemistry, and the conversions between them.

A conversion between a mass and a molar unit depends on the analyte (171 umol/L
is 10 mg/dL of bilirubin but 1.93 mg/dL of creatinine), so every conversion is
asked for *with* the analyte. Prothrombin activity (%) and INR are different
tests, never converted into one another.

Results are rounded to 12 significant digits, which removes binary
floating-point noise (10 mg/dL of bilirubin is 171 umol/L, not
171.00000000000003) and is far below any laboratory's precision. Convert from
the value as reported, once: every comparison in hepatrial does, because a
chain of rounded conversions can drift in the last digit.
"""

from __future__ import annotations

import math

# --- conversion constants (each with its source) -----------------------------
# Bilirubin: mg/dL = umol/L / 17.1 (molar mass 584.7 g/mol; R package transplantr,
# R/unit_conversion.R; shared/reference/liver-scores.md).
BILIRUBIN_UMOL_L_PER_MG_DL = 17.1
# Creatinine: mg/dL = umol/L / 88.4 (molar mass 113.12 g/mol; transplantr, same file).
CREATININE_UMOL_L_PER_MG_DL = 88.4
# Urea: 1 mmol/L of urea carries 2.8 mg/dL of urea nitrogen (BUN) (2 N x 14.0 g/mol).
UREA_BUN_MG_DL_PER_MMOL_L = 2.8
# Lactate: 1 mmol/L = 9.01 mg/dL (molar mass 90.08 g/mol).
LACTATE_MG_DL_PER_MMOL_L = 9.008
# Albumin and haemoglobin: g/L = 10 x g/dL (definition of the units).
G_L_PER_G_DL = 10.0

_SIGNIFICANT_DIGITS = 12


class UnitError(ValueError):
    """A unit that is not known, or not convertible for the analyte."""

    def __init__(self, unit: str | None, reason: str):
        self.unit = unit
        self.reason = reason
        super().__init__(reason)


# Spellings people and laboratory systems use, mapped to one canonical spelling.
_ALIASES: dict[str, str] = {
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "mg/dl": "mg/dL",
    "g/l": "g/L",
    "g/dl": "g/dL",
    "mmol/l": "mmol/L",
    "meq/l": "mEq/L",
    "%": "%",
    "u/l": "U/L",
    "iu/l": "U/L",
    "10^9/l": "10^9/L",
    "10*9/l": "10^9/L",  # UCUM spelling
    "x10^9/l": "10^9/L",
    "10e9/l": "10^9/L",
    "g/l(10^9)": "10^9/L",
    "ratio": "ratio",
    "{ratio}": "ratio",  # UCUM annotation for INR
    "{inr}": "ratio",
    "1": "ratio",
    "mmhg": "mmHg",
    # volumes and infusion rates (study infusions)
    "ml": "mL",
    "ml/h": "mL/h",
    "ml/hr": "mL/h",
}

#: Every canonical unit spelling, longest first (the rule lexer matches greedily).
KNOWN_UNITS: tuple[str, ...] = tuple(sorted(set(_ALIASES.values()), key=len, reverse=True))
#: Every accepted spelling, longest first.
UNIT_SPELLINGS: tuple[str, ...] = tuple(
    sorted(set(_ALIASES) | set(KNOWN_UNITS), key=len, reverse=True)
)


def normalize_unit(unit: str) -> str:
    """The canonical spelling of ``unit`` ('umol/l', 'µmol/L' -> 'umol/L')."""
    key = unit.strip().lower().replace(" ", "")
    try:
        return _ALIASES[key]
    except KeyError:
        raise UnitError(unit, f"unknown unit {unit!r}") from None


# Unit conversions that hold whatever the analyte: factor to multiply by.
_GENERIC: dict[tuple[str, str], float] = {
    ("g/dL", "g/L"): G_L_PER_G_DL,
    ("mmol/L", "umol/L"): 1000.0,
    # mEq/L = mmol/L for a monovalent ion (sodium, potassium, chloride, bicarbonate).
    ("mEq/L", "mmol/L"): 1.0,
}

# Conversions that depend on the analyte: (analyte, from, to) -> factor.
_BY_ANALYTE: dict[tuple[str, str, str], float] = {
    ("total_bilirubin", "mg/dL", "umol/L"): BILIRUBIN_UMOL_L_PER_MG_DL,
    ("creatinine", "mg/dL", "umol/L"): CREATININE_UMOL_L_PER_MG_DL,
    # urea given as BUN mg/dL -> urea mmol/L
    ("urea", "mg/dL", "mmol/L"): 1.0 / UREA_BUN_MG_DL_PER_MMOL_L,
    ("lactate", "mg/dL", "mmol/L"): 1.0 / LACTATE_MG_DL_PER_MMOL_L,
}


def _factor(analyte: str | None, src: str, dst: str) -> float | None:
    """The factor taking ``src`` to ``dst`` (both canonical spellings), or None."""
    if src == dst:
        return 1.0
    for table, key in ((_BY_ANALYTE, (analyte, src, dst)), (_GENERIC, (src, dst))):
        if key in table:
            return table[key]
        reverse = key[:-2] + (dst, src)
        if reverse in table:
            return 1.0 / table[reverse]
    return None


def convertible(from_unit: str, to_unit: str, analyte: str | None = None) -> bool:
    """Whether ``from_unit`` converts to ``to_unit`` (for ``analyte`` where it matters)."""
    return _factor(analyte, normalize_unit(from_unit), normalize_unit(to_unit)) is not None


def round_significant(value: float, digits: int = _SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (float noise removed)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def convert(value: float, from_unit: str, to_unit: str, analyte: str | None = None) -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit``.

    ``analyte`` is needed for mass <-> molar conversions; without it, or for a
    pair that does not convert, :class:`UnitError` says so.
    """
    src, dst = normalize_unit(from_unit), normalize_unit(to_unit)
    factor = _factor(analyte, src, dst)
    if factor is None:
        what = f" for {analyte}" if analyte else ""
        raise UnitError(from_unit, f"cannot convert {src} to {dst}{what}")
    if factor == 1.0:
        return value
    return round_significant(value * factor)
