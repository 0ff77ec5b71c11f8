"""COSSH-ACLF II score (Chinese Group on the Study of Severe Hepatitis B).

Source of the equation: Li J et al. (COSSH), "Development and validation of a
new prognostic score for hepatitis B virus-related acute-on-chronic liver
failure", J Hepatol 2021;75:1104-1115. The coefficients below were confirmed
against Zhejiang University's announcement of the paper (qhmstj.cn, 2021-07-07):

    COSSH-ACLF IIs = 1.649 ln(INR) + 0.457 HE score + 0.425 ln(neutrophils)
                     + 0.396 ln(total bilirubin) + 0.576 ln(serum urea)
                     + 0.033 age

UNVERIFIED -- not confirmed against the paper itself (its full text was not
available here):
- Units. We take neutrophils in 10^9/L, total bilirubin in umol/L and urea in
  mmol/L (the units of the Chinese COSSH cohorts). Plausibility only: with
  the survivor medians of Hepat Mon 2023;23:e134771 (TBil 35.8 umol/L, INR
  1.4, age 62, HE grade 1-2) and an assumed neutrophil count of 3 x 10^9/L
  and urea of 6 mmol/L (not reported there), these units give 6.4 against a
  reported median COSSH-ACLF IIs of 6.9; bilirubin in mg/dL would give 5.3.
  A sibling trial (NCT07409259) uses "COSSH-ACLF II < 7.4" as entry criterion.
- HE score coding. We use 1 = no HE, 2 = West Haven grade 1-2, 3 = grade 3-4
  (the coding of the brain sub-score in CLIF-C OF, which COSSH scores build
  on). A coding of 0/1/2 would lower every score with the same HE by 0.457.
Confirm both against Li 2021 (Table/Methods) before using the score for a
decision; docs/scores.md carries the same warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._common import require_positive, round_half_up
from .west_haven import encephalopathy_points

__all__ = ["CosshResult", "cossh_aclf_ii", "cossh_he_score"]

# Li J et al. J Hepatol 2021;75:1104 (coefficients as announced by Zhejiang
# University, 2021-07-07).
COEF_LN_INR = 1.649
COEF_HE_SCORE = 0.457
COEF_LN_NEUTROPHILS = 0.425
COEF_LN_BILIRUBIN = 0.396
COEF_LN_UREA = 0.576
COEF_AGE = 0.033
# Reported precision: published cohorts report one decimal (e.g. "6.9 (6.2-7.9)",
# Hepat Mon 2023); ``value`` keeps two so a cut-off such as 7.4 is not crossed
# by rounding alone. Use ``unrounded`` for eligibility decisions.
VALUE_DECIMALS = 2


@dataclass(frozen=True)
class CosshResult:
    """value: score rounded to 2 decimals; he_score: the 1-3 HE term used."""

    value: float
    he_score: int
    unrounded: float
    inputs: dict[str, float | int] = field(default_factory=dict)


def cossh_he_score(encephalopathy_grade: int) -> int:
    """HE score for COSSH-ACLF II: 1 none, 2 grade 1-2, 3 grade 3-4 (UNVERIFIED coding)."""
    return encephalopathy_points(encephalopathy_grade)


def cossh_aclf_ii(
    *,
    inr: float,
    encephalopathy_grade: int,
    neutrophils_10e9_l: float,
    bilirubin_umol_l: float,
    urea_mmol_l: float,
    age_years: float,
) -> CosshResult:
    """COSSH-ACLF II score; see the module docstring for the unverified units/coding."""
    inr_value = require_positive(inr, "inr")
    he_score = cossh_he_score(encephalopathy_grade)
    neutrophils = require_positive(neutrophils_10e9_l, "neutrophils_10e9_l")
    bilirubin = require_positive(bilirubin_umol_l, "bilirubin_umol_l")
    urea = require_positive(urea_mmol_l, "urea_mmol_l")
    age = require_positive(age_years, "age_years")

    unrounded = (
        COEF_LN_INR * math.log(inr_value)
        + COEF_HE_SCORE * he_score
        + COEF_LN_NEUTROPHILS * math.log(neutrophils)
        + COEF_LN_BILIRUBIN * math.log(bilirubin)
        + COEF_LN_UREA * math.log(urea)
        + COEF_AGE * age
    )
    return CosshResult(
        value=round_half_up(unrounded, VALUE_DECIMALS),
        he_score=he_score,
        unrounded=unrounded,
        inputs={
            "inr": inr_value,
            "encephalopathy_grade": int(encephalopathy_grade),
            "neutrophils_10e9_l": neutrophils,
            "bilirubin_umol_l": bilirubin,
            "urea_mmol_l": urea,
            "age_years": age,
        },
    )
