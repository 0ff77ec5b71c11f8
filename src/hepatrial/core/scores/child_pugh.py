"""Child-Pugh (Child-Turcotte-Pugh) score, INR version.

Source for points and boundaries: MDCalc "Child-Pugh Score for Cirrhosis
Mortality" and the same table in Cleveland Clinic J Med (ccjm.org, Table 1
"Child-Pugh classification", adapted from Pugh RN et al. Br J Surg
1973;60:646):

    points                 1        2          3
    bilirubin (mg/dL)      < 2      2-3        > 3
    albumin (g/dL)         > 3.5    2.8-3.5    < 2.8
    INR                    < 1.7    1.7-2.3    > 2.3
    ascites                absent   slight     moderate (to severe)
    encephalopathy         none     grade 1-2  grade 3-4

    class A 5-6, B 7-9, C 10-15.

Boundary convention: the middle band is closed at both ends, as printed
("2-3", "2.8-3.5", "1.7-2.3"): bilirubin exactly 2.0 or 3.0 -> 2 points;
albumin exactly 2.8 or 3.5 -> 2 points; INR exactly 1.7 or 2.3 -> 2 points.
Other tables print the albumin band as 3.0-3.5 g/dL (Harrison's); MDCalc's 2.8
is used here. The bilirubin bands are those for non-cholestatic disease (the
PBC/PSC variant with 4/10 mg/dL is not implemented).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._common import ScoreInputError, banded_points, require_he_grade, require_positive
from .west_haven import encephalopathy_points

__all__ = ["ChildPughResult", "child_pugh", "ASCITES_POINTS"]

# MDCalc / CCJM Table 1: bilirubin < 2 -> 1, 2-3 -> 2, > 3 -> 3 (mg/dL).
BILIRUBIN_2_POINTS_FROM_MG_DL = 2.0
BILIRUBIN_2_POINTS_TO_MG_DL = 3.0
# MDCalc / CCJM Table 1: albumin > 3.5 -> 1, 2.8-3.5 -> 2, < 2.8 -> 3 (g/dL).
ALBUMIN_2_POINTS_FROM_G_DL = 2.8
ALBUMIN_2_POINTS_TO_G_DL = 3.5
# MDCalc / CCJM Table 1: INR < 1.7 -> 1, 1.7-2.3 -> 2, > 2.3 -> 3.
INR_2_POINTS_FROM = 1.7
INR_2_POINTS_TO = 2.3
# MDCalc: ascites absent 1, slight 2, moderate 3. "severe" is scored with
# "moderate" (MDCalc's top option reads moderate; tables print "moderate to
# severe" or "poorly controlled" as the 3-point category).
ASCITES_POINTS: dict[str, int] = {"none": 1, "mild": 2, "moderate": 3, "severe": 3}
# MDCalc: encephalopathy none 1, grade 1-2 2, grade 3-4 3 (West Haven).
# Class cut-offs: A 5-6, B 7-9, C 10-15 (MDCalc; CCJM Table 1).
CLASS_A_MAX = 6
CLASS_B_MAX = 9


@dataclass(frozen=True)
class ChildPughResult:
    """value: total points 5-15; points: per component; child_class 'A'|'B'|'C'."""

    value: int
    points: dict[str, int]
    child_class: str
    inputs: dict[str, float | int | str] = field(default_factory=dict)



def child_pugh(
    *,
    bilirubin_mg_dl: float,
    albumin_g_dl: float,
    inr: float,
    ascites: str,
    encephalopathy_grade: int,
) -> ChildPughResult:
    """Child-Pugh points and class (see the module docstring for boundaries)."""
    bilirubin = require_positive(bilirubin_mg_dl, "bilirubin_mg_dl")
    albumin = require_positive(albumin_g_dl, "albumin_g_dl")
    inr_value = require_positive(inr, "inr")
    if not isinstance(ascites, str) or ascites not in ASCITES_POINTS:
        raise ScoreInputError(
            "ascites", f"must be one of {sorted(ASCITES_POINTS)}, got {ascites!r}"
        )
    he_grade = require_he_grade(encephalopathy_grade)

    albumin_points = 4 - banded_points(
        albumin, ALBUMIN_2_POINTS_FROM_G_DL, ALBUMIN_2_POINTS_TO_G_DL
    )  # albumin scores inversely: high albumin is 1 point
    points = {
        "bilirubin": banded_points(
            bilirubin, BILIRUBIN_2_POINTS_FROM_MG_DL, BILIRUBIN_2_POINTS_TO_MG_DL
        ),
        "albumin": albumin_points,
        "inr": banded_points(inr_value, INR_2_POINTS_FROM, INR_2_POINTS_TO),
        "ascites": ASCITES_POINTS[ascites],
        "encephalopathy": encephalopathy_points(he_grade),
    }
    total = sum(points.values())
    if total <= CLASS_A_MAX:
        child_class = "A"
    elif total <= CLASS_B_MAX:
        child_class = "B"
    else:
        child_class = "C"
    return ChildPughResult(
        value=total,
        points=points,
        child_class=child_class,
        inputs={
            "bilirubin_mg_dl": bilirubin,
            "albumin_g_dl": albumin,
            "inr": inr_value,
            "ascites": ascites,
            "encephalopathy_grade": he_grade,
        },
    )
