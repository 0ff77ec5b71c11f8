"""APASL ACLF Research Consortium (AARC) score and grade.

Sources
- Choudhury A et al. Liver failure determines the outcome in patients of
  acute-on-chronic liver failure (ACLF): comparison of APASL ACLF research
  consortium (AARC) and CLIF-SOFA models. Hepatol Int 2017;11:461-471
  (derivation of the AARC score).
- Sarin SK et al. Acute-on-chronic liver failure: consensus recommendations of
  the APASL: an update. Hepatol Int 2019;13:353-390 (adopts the score and grades).
- The same table reprinted in Exploration of Medicine (explorationpub.com,
  article 100552, Table 2), used to cross-check the cut-offs below.

    points                    1        2          3
    total bilirubin (mg/dL)   < 15     15-25      > 25
    HE grade (West Haven)     0        I-II       III-IV
    INR                       < 1.8    1.8-2.5    > 2.5
    lactate (mmol/L)          < 1.5    1.5-2.5    > 2.5
    creatinine (mg/dL)        < 0.7    0.7-1.5    > 1.5
    grade I 5-7, grade II 8-10, grade III 11-15

Boundary convention: the middle band is closed at both ends as printed
("15-25", "1.8-2.5", ...), so bilirubin exactly 15 or 25, INR exactly 1.8 or
2.5, lactate exactly 1.5 or 2.5 and creatinine exactly 0.7 or 1.5 score 2
points. The source tables print ranges only; the closed reading is ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._common import (
    banded_points,
    require_he_grade,
    require_non_negative,
    require_positive,
)
from .west_haven import encephalopathy_points

__all__ = ["AarcResult", "aarc"]

# Choudhury 2017 / Sarin 2019: bilirubin < 15, 15-25, > 25 mg/dL.
BILIRUBIN_BAND_MG_DL = (15.0, 25.0)
# Choudhury 2017 / Sarin 2019: INR < 1.8, 1.8-2.5, > 2.5.
INR_BAND = (1.8, 2.5)
# Choudhury 2017 / Sarin 2019: lactate < 1.5, 1.5-2.5, > 2.5 mmol/L.
LACTATE_BAND_MMOL_L = (1.5, 2.5)
# Choudhury 2017 / Sarin 2019: creatinine < 0.7, 0.7-1.5, > 1.5 mg/dL.
CREATININE_BAND_MG_DL = (0.7, 1.5)
# Choudhury 2017 / Sarin 2019: grade I 5-7, II 8-10, III 11-15.
GRADE_I_MAX = 7
GRADE_II_MAX = 10


@dataclass(frozen=True)
class AarcResult:
    """value: AARC score 5-15; points per component; grade 'I'|'II'|'III'."""

    value: int
    points: dict[str, int]
    grade: str
    inputs: dict[str, float | int] = field(default_factory=dict)



def aarc(
    *,
    bilirubin_mg_dl: float,
    encephalopathy_grade: int,
    inr: float,
    lactate_mmol_l: float,
    creatinine_mg_dl: float,
) -> AarcResult:
    """AARC score and ACLF grade (see the module docstring for the table)."""
    bilirubin = require_positive(bilirubin_mg_dl, "bilirubin_mg_dl")
    he_grade = require_he_grade(encephalopathy_grade)
    inr_value = require_positive(inr, "inr")
    lactate = require_non_negative(lactate_mmol_l, "lactate_mmol_l")
    creatinine = require_positive(creatinine_mg_dl, "creatinine_mg_dl")

    points = {
        "bilirubin": banded_points(bilirubin, *BILIRUBIN_BAND_MG_DL),
        "encephalopathy": encephalopathy_points(he_grade),
        "inr": banded_points(inr_value, *INR_BAND),
        "lactate": banded_points(lactate, *LACTATE_BAND_MMOL_L),
        "creatinine": banded_points(creatinine, *CREATININE_BAND_MG_DL),
    }
    total = sum(points.values())
    if total <= GRADE_I_MAX:
        grade = "I"
    elif total <= GRADE_II_MAX:
        grade = "II"
    else:
        grade = "III"
    return AarcResult(
        value=total,
        points=points,
        grade=grade,
        inputs={
            "bilirubin_mg_dl": bilirubin,
            "encephalopathy_grade": he_grade,
            "inr": inr_value,
            "lactate_mmol_l": lactate,
            "creatinine_mg_dl": creatinine,
        },
    )
