"""MELD, MELD-Na (OPTN 2016) and MELD 3.0 (Kim 2021).

Inputs are in conventional US units (mg/dL, g/dL, mmol/L); convert SI values
first (bilirubin umol/L / 17.1, creatinine umol/L / 88.4, albumin g/L / 10).

Sources
- OPTN policy 9.1.D as in force from January 2016 (quoted in MIT-LCP
  mimic-code ``mimic-iv/concepts/organfailure/meld.sql``): MELD(i) formula,
  bounds, dialysis rule, "rounded to the tenth decimal place and then
  multiplied by 10", the MELD-Na recalculation for MELD(i) > 11, sodium
  125-137, and "The maximum MELD score is 40".
- Kim WR et al. MELD 3.0. Gastroenterology 2021;161:1887-1895.e4
  (doi:10.1053/j.gastro.2021.08.050): MELD 3.0 coefficients and bounds.
- Cross-checked against the ameld R package (``R/meld.R``) and the
  CU-Anschutz sas-macros ``meld.sas``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._common import (
    clamp,
    require_bool,
    require_positive,
    round_half_up,
)

__all__ = ["MeldResult", "meld", "meld_na", "meld_3_0"]

# --- OPTN policy 9.1.D (2016) -------------------------------------------------
# Laboratory values below 1.0 are set to 1.0 (OPTN 9.1.D).
LAB_LOWER_BOUND = 1.0
# Creatinine above 4.0 mg/dL, or dialysis twice in the prior week / 24 h CVVHD,
# is set to 4.0 mg/dL (OPTN 9.1.D).
MELD_CREATININE_CAP_MG_DL = 4.0
# MELD(i) = 0.957 ln(Cr) + 0.378 ln(bili) + 1.120 ln(INR) + 0.643 (OPTN 9.1.D;
# Kamath 2001 / Wiesner 2003 with the aetiology term fixed at "other").
MELD_COEF_CREATININE = 0.957
MELD_COEF_BILIRUBIN = 0.378
MELD_COEF_INR = 1.120
MELD_CONSTANT = 0.643
# "The maximum MELD score is 40" (OPTN 9.1.D).
MELD_MAX = 40
# The sodium recalculation applies only when the initial MELD(i) x 10 > 11
# (OPTN 9.1.D, effective January 2016).
MELD_NA_THRESHOLD = 11
# Sodium below 125 set to 125, above 137 set to 137 (OPTN 9.1.D).
SODIUM_LOW_MMOL_L = 125.0
SODIUM_HIGH_MMOL_L = 137.0
# MELD-Na = MELD(i) + 1.32 (137 - Na) - 0.033 MELD(i) (137 - Na) (OPTN 9.1.D;
# Kim WR et al. N Engl J Med 2008;359:1018 as adopted by OPTN).
MELD_NA_COEF_SODIUM = 1.32
MELD_NA_COEF_INTERACTION = 0.033

# --- MELD 3.0, Kim et al. Gastroenterology 2021;161:1887 ----------------------
# Creatinine upper bound 3.0 mg/dL; dialysis twice in a week or 24 h CVVHD -> 3.0.
MELD3_CREATININE_CAP_MG_DL = 3.0
# Albumin bounded 1.5-3.5 g/dL.
ALBUMIN_LOW_G_DL = 1.5
ALBUMIN_HIGH_G_DL = 3.5
# Coefficients of the published equation.
MELD3_COEF_FEMALE = 1.33
MELD3_COEF_LN_BILIRUBIN = 4.56
MELD3_COEF_SODIUM = 0.82
MELD3_COEF_SODIUM_X_LN_BILIRUBIN = 0.24
MELD3_COEF_LN_INR = 9.09
MELD3_COEF_LN_CREATININE = 11.14
MELD3_COEF_ALBUMIN = 1.85
MELD3_COEF_ALBUMIN_X_LN_CREATININE = 1.83
MELD3_CONSTANT = 6.0
# Cap at 40: Kim 2021 scaled MELD 3.0 "without a presumption that the score
# would be capped at 40", but OPTN allocation continues to cap every MELD at 40
# (OPTN 9.1.D "The maximum MELD score is 40"; the 2023 MELD 3.0 analyses state
# "All scores were capped at 40, as per the UNOS allocation policy",
# PMC12036734; Hepatology 2023 doi:10.1002/hep.32770 studies *uncapping* it;
# CU-Anschutz sas-macros meld.sas caps MELD 3.0 at 40 "as per OPTN policy").
# The OPTN policy text for MELD 3.0 itself was not read here; see docs/scores.md.
MELD3_MAX = 40


@dataclass(frozen=True)
class MeldResult:
    """A MELD-family score.

    value           the reported score, an int (after rounding and the 40 cap).
    unrounded       the score before the final rounding and before the cap:
                    for ``meld`` 10 x MELD(i); for ``meld_na`` the MELD-Na value
                    (or the initial MELD when no sodium correction applies);
                    for ``meld_3_0`` the MELD 3.0 equation value.
    meld_i          OPTN's initial MELD score, MELD(i) rounded to the tenth and
                    multiplied by 10 (the value the sodium rule compares with 11);
                    None for MELD 3.0, which has no MELD(i) step.
    bounded_inputs  the inputs actually entered into the equation.
    capped          True when the 40 maximum lowered the score.
    sodium_corrected  for ``meld_na``: whether the sodium recalculation applied.
    """

    value: int
    unrounded: float
    meld_i: float | None
    bounded_inputs: dict[str, float | bool] = field(default_factory=dict)
    capped: bool = False
    sodium_corrected: bool | None = None


def _bounded_classic(
    bilirubin_mg_dl: float, creatinine_mg_dl: float, inr: float, dialysis: bool
) -> dict[str, float | bool]:
    bilirubin = require_positive(bilirubin_mg_dl, "bilirubin_mg_dl")
    creatinine = require_positive(creatinine_mg_dl, "creatinine_mg_dl")
    inr_value = require_positive(inr, "inr")
    dialysis = require_bool(dialysis, "dialysis_twice_past_week")
    if dialysis:
        creatinine_used = MELD_CREATININE_CAP_MG_DL
    else:
        creatinine_used = clamp(creatinine, LAB_LOWER_BOUND, MELD_CREATININE_CAP_MG_DL)
    return {
        "bilirubin_mg_dl": max(bilirubin, LAB_LOWER_BOUND),
        "creatinine_mg_dl": creatinine_used,
        "inr": max(inr_value, LAB_LOWER_BOUND),
        "dialysis_twice_past_week": dialysis,
    }


def _meld_i_raw(bounded: dict[str, float | bool]) -> float:
    return (
        MELD_COEF_CREATININE * math.log(bounded["creatinine_mg_dl"])
        + MELD_COEF_BILIRUBIN * math.log(bounded["bilirubin_mg_dl"])
        + MELD_COEF_INR * math.log(bounded["inr"])
        + MELD_CONSTANT
    )


def _optn_initial(raw: float) -> float:
    # "rounded to the tenth decimal place and then multiplied by 10" (OPTN 9.1.D).
    # round_half_up returns e.g. 2.0; x10 in float can give 20.000000000000004
    # for some tenths, so the product is rounded back to a whole number.
    return float(round(round_half_up(raw, 1) * 10))


def meld(
    *,
    bilirubin_mg_dl: float,
    creatinine_mg_dl: float,
    inr: float,
    dialysis_twice_past_week: bool,
) -> MeldResult:
    """OPTN/UNOS MELD (pre-2016 allocation score).

    Bilirubin, creatinine and INR below 1.0 are set to 1.0; creatinine above 4.0,
    or dialysis at least twice in the past week (or 24 h of CVVHD), gives 4.0.
    MELD(i) is rounded to the tenth and multiplied by 10; the maximum is 40.
    """
    bounded = _bounded_classic(
        bilirubin_mg_dl, creatinine_mg_dl, inr, dialysis_twice_past_week
    )
    raw = _meld_i_raw(bounded)
    initial = _optn_initial(raw)
    value = int(min(initial, MELD_MAX))
    return MeldResult(
        value=value,
        unrounded=10 * raw,
        meld_i=initial,
        bounded_inputs=bounded,
        capped=initial > MELD_MAX,
    )


def meld_na(
    *,
    bilirubin_mg_dl: float,
    creatinine_mg_dl: float,
    inr: float,
    sodium_mmol_l: float,
    dialysis_twice_past_week: bool,
) -> MeldResult:
    """OPTN MELD-Na (January 2016 - July 2023 allocation score).

    Initial MELD(i) as in :func:`meld`; if it is greater than 11 it is
    recalculated as MELD(i) + 1.32 (137 - Na) - 0.033 MELD(i) (137 - Na) with
    Na bounded to 125-137 mmol/L, then rounded to a whole number (half up).
    Maximum 40 (OPTN 9.1.D).
    """
    bounded = _bounded_classic(
        bilirubin_mg_dl, creatinine_mg_dl, inr, dialysis_twice_past_week
    )
    sodium = require_positive(sodium_mmol_l, "sodium_mmol_l")
    sodium_used = clamp(sodium, SODIUM_LOW_MMOL_L, SODIUM_HIGH_MMOL_L)
    bounded["sodium_mmol_l"] = sodium_used

    initial = _optn_initial(_meld_i_raw(bounded))
    corrected = initial > MELD_NA_THRESHOLD
    if corrected:
        deficit = SODIUM_HIGH_MMOL_L - sodium_used
        unrounded = (
            initial
            + MELD_NA_COEF_SODIUM * deficit
            - MELD_NA_COEF_INTERACTION * initial * deficit
        )
    else:
        unrounded = initial
    rounded = int(round_half_up(unrounded))
    return MeldResult(
        value=min(rounded, MELD_MAX),
        unrounded=unrounded,
        meld_i=initial,
        bounded_inputs=bounded,
        capped=rounded > MELD_MAX,
        sodium_corrected=corrected,
    )


def meld_3_0(
    *,
    bilirubin_mg_dl: float,
    creatinine_mg_dl: float,
    inr: float,
    sodium_mmol_l: float,
    albumin_g_dl: float,
    female: bool,
    dialysis_twice_past_week: bool,
) -> MeldResult:
    """MELD 3.0 (Kim et al., Gastroenterology 2021;161:1887).

    1.33 (female) + 4.56 ln(bili) + 0.82 (137 - Na) - 0.24 (137 - Na) ln(bili)
    + 9.09 ln(INR) + 11.14 ln(Cr) + 1.85 (3.5 - alb) - 1.83 (3.5 - alb) ln(Cr) + 6,
    bilirubin/INR/creatinine at least 1.0, creatinine at most 3.0 (3.0 with
    dialysis), Na 125-137, albumin 1.5-3.5 g/dL; rounded to a whole number (half
    up) and capped at 40 as OPTN allocation does (``unrounded`` is uncapped).

    ``female``: OPTN gives the 1.33 points to every candidate aged 12-17
    regardless of sex; pass ``female=True`` for them to reproduce that.
    """
    bilirubin = require_positive(bilirubin_mg_dl, "bilirubin_mg_dl")
    creatinine = require_positive(creatinine_mg_dl, "creatinine_mg_dl")
    inr_value = require_positive(inr, "inr")
    sodium = require_positive(sodium_mmol_l, "sodium_mmol_l")
    albumin = require_positive(albumin_g_dl, "albumin_g_dl")
    is_female = require_bool(female, "female")
    dialysis = require_bool(dialysis_twice_past_week, "dialysis_twice_past_week")

    bili_used = max(bilirubin, LAB_LOWER_BOUND)
    inr_used = max(inr_value, LAB_LOWER_BOUND)
    if dialysis:
        creat_used = MELD3_CREATININE_CAP_MG_DL
    else:
        creat_used = clamp(creatinine, LAB_LOWER_BOUND, MELD3_CREATININE_CAP_MG_DL)
    sodium_used = clamp(sodium, SODIUM_LOW_MMOL_L, SODIUM_HIGH_MMOL_L)
    albumin_used = clamp(albumin, ALBUMIN_LOW_G_DL, ALBUMIN_HIGH_G_DL)

    ln_bili = math.log(bili_used)
    ln_creat = math.log(creat_used)
    sodium_deficit = SODIUM_HIGH_MMOL_L - sodium_used
    albumin_deficit = ALBUMIN_HIGH_G_DL - albumin_used
    unrounded = (
        MELD3_COEF_FEMALE * (1.0 if is_female else 0.0)
        + MELD3_COEF_LN_BILIRUBIN * ln_bili
        + MELD3_COEF_SODIUM * sodium_deficit
        - MELD3_COEF_SODIUM_X_LN_BILIRUBIN * sodium_deficit * ln_bili
        + MELD3_COEF_LN_INR * math.log(inr_used)
        + MELD3_COEF_LN_CREATININE * ln_creat
        + MELD3_COEF_ALBUMIN * albumin_deficit
        - MELD3_COEF_ALBUMIN_X_LN_CREATININE * albumin_deficit * ln_creat
        + MELD3_CONSTANT
    )
    rounded = int(round_half_up(unrounded))
    return MeldResult(
        value=min(rounded, MELD3_MAX),
        unrounded=unrounded,
        meld_i=None,
        bounded_inputs={
            "bilirubin_mg_dl": bili_used,
            "creatinine_mg_dl": creat_used,
            "inr": inr_used,
            "sodium_mmol_l": sodium_used,
            "albumin_g_dl": albumin_used,
            "female": is_female,
            "dialysis_twice_past_week": dialysis,
        },
        capped=rounded > MELD3_MAX,
    )
