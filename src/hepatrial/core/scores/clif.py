"""EASL-CLIF Consortium scores: CLIF-C OF, organ failures, ACLF grade, CLIF-C ACLF.

Sources
- Moreau R et al. (CANONIC). Acute-on-chronic liver failure is a distinct
  syndrome... Gastroenterology 2013;144:1426-1437: organ-failure definitions
  and the ACLF grades.
- Jalan R et al. Development and validation of a prognostic score to predict
  mortality in patients with ACLF. J Hepatol 2014;61:1038-1047: the simplified
  CLIF-C OF score (1-3 points per organ, 6-18) and the CLIF-C ACLF score.
- EF-CLIF calculators (efclif.com). Threshold table as reprinted in World J
  Gastroenterol 2016;22(41):9205 Table 1 (CLIF-C OF, citing Jalan 2014) and the
  ACLF grades in World J Gastroenterol 2022;28(48):6922 Table 1.

CLIF-C OF points (Jalan 2014):
    organ         1              2                   3
    liver         bili < 6       6 <= bili < 12      bili >= 12 mg/dL
    kidney        Cr < 2         2 <= Cr < 3.5       Cr >= 3.5 mg/dL or RRT
    brain (HE)    grade 0        grade 1-2           grade 3-4 (West Haven)
    coagulation   INR < 2.0      2.0 <= INR < 2.5    INR >= 2.5
    circulation   MAP >= 70      MAP < 70 mmHg       vasopressors
    respiration   P/F > 300      200 < P/F <= 300    P/F <= 200
                  S/F > 357      214 < S/F <= 357    S/F <= 214
An organ *failure* (Moreau 2013) is the 3-point category of each organ except
the kidney, where failure starts at creatinine >= 2.0 mg/dL (2 or 3 points);
Jalan 2014 shades the same cells as failures in its CLIF-C OF table.

Not modelled: mechanical ventilation for a reason other than HE (counts as
respiratory failure in CANONIC) -- pass a PaO2/FiO2 or SpO2/FiO2 that reflects
it; a patient intubated for HE should be entered as grade 3-4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._common import (
    ScoreInputError,
    require_bool,
    require_he_grade,
    require_positive,
    round_half_up,
)
from .west_haven import encephalopathy_points

__all__ = [
    "ORGANS",
    "ClifOfResult",
    "AclfGradeResult",
    "ClifAclfResult",
    "clif_c_of",
    "clif_organ_failures",
    "aclf_grade",
    "clif_c_aclf",
]

# Order in which organs are reported (Moreau 2013 / Jalan 2014 order).
ORGANS: tuple[str, ...] = (
    "liver",
    "kidney",
    "brain",
    "coagulation",
    "circulation",
    "respiration",
)

# Jalan 2014 CLIF-C OF; failure thresholds = Moreau 2013 organ failures.
BILIRUBIN_2_POINTS_MG_DL = 6.0
BILIRUBIN_FAILURE_MG_DL = 12.0  # liver failure: bilirubin >= 12 mg/dL
CREATININE_2_POINTS_MG_DL = 2.0  # kidney failure (Moreau 2013): Cr >= 2.0 or RRT
CREATININE_3_POINTS_MG_DL = 3.5  # CLIF-C OF kidney 3 points: Cr >= 3.5 or RRT
INR_2_POINTS = 2.0
INR_FAILURE = 2.5  # coagulation failure: INR >= 2.5
MAP_LOW_MMHG = 70.0  # circulation 2 points: MAP < 70 mmHg; failure: vasopressors
PAO2_FIO2_2_POINTS_ABOVE = 200.0  # 2 points: > 200 and <= 300
PAO2_FIO2_1_POINT_ABOVE = 300.0  # 1 point: > 300; failure: <= 200
SPO2_FIO2_2_POINTS_ABOVE = 214.0  # 2 points: > 214 and <= 357
SPO2_FIO2_1_POINT_ABOVE = 357.0  # 1 point: > 357; failure: <= 214

# Moreau 2013 ACLF grade 1 modifiers: "kidney dysfunction" creatinine 1.5-1.9
# mg/dL (read as 1.5 <= Cr < 2.0, since 2.0 is kidney failure) and "mild to
# moderate HE" (West Haven grade 1-2).
KIDNEY_DYSFUNCTION_FROM_MG_DL = 1.5

# Jalan 2014: CLIF-C ACLF = 10 x [0.33 x CLIF-C OF + 0.04 x age
#                                 + 0.63 x ln(WBC, 10^9/L) - 2].
ACLF_COEF_OF = 0.33
ACLF_COEF_AGE = 0.04
ACLF_COEF_LN_WBC = 0.63
ACLF_CONSTANT = -2.0
ACLF_SCALE = 10.0


@dataclass(frozen=True)
class ClifOfResult:
    """value: CLIF-C OF 6-18; points per organ; organ_failures in ORGANS order.

    respiration_measure: "pao2_fio2" or "spo2_fio2", whichever was scored
    (PaO2/FiO2 is used when both are given).
    """

    value: int
    points: dict[str, int]
    organ_failures: tuple[str, ...]
    respiration_measure: str
    inputs: dict[str, float | int | bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class AclfGradeResult:
    """value: 0 (no ACLF) to 3; reason: which EASL-CLIF rule decided the grade."""

    value: int
    organ_failures: tuple[str, ...]
    reason: str
    kidney_dysfunction: bool
    mild_encephalopathy: bool


@dataclass(frozen=True)
class ClifAclfResult:
    """value: CLIF-C ACLF rounded to one decimal; unrounded: the exact value."""

    value: float
    unrounded: float
    clif_c_of: ClifOfResult


def clif_c_of(
    *,
    bilirubin_mg_dl: float,
    creatinine_mg_dl: float,
    renal_replacement: bool,
    encephalopathy_grade: int,
    inr: float,
    mean_arterial_pressure_mmhg: float,
    vasopressors: bool,
    pao2_fio2: float | None = None,
    spo2_fio2: float | None = None,
) -> ClifOfResult:
    """CLIF-C OF score (Jalan 2014) with the organ failures it implies."""
    bilirubin = require_positive(bilirubin_mg_dl, "bilirubin_mg_dl")
    creatinine = require_positive(creatinine_mg_dl, "creatinine_mg_dl")
    rrt = require_bool(renal_replacement, "renal_replacement")
    he_grade = require_he_grade(encephalopathy_grade)
    inr_value = require_positive(inr, "inr")
    map_mmhg = require_positive(mean_arterial_pressure_mmhg, "mean_arterial_pressure_mmhg")
    pressors = require_bool(vasopressors, "vasopressors")
    if pao2_fio2 is None and spo2_fio2 is None:
        raise ScoreInputError(
            "pao2_fio2", "respiration needs PaO2/FiO2 or SpO2/FiO2; neither was given"
        )
    pf = None if pao2_fio2 is None else require_positive(pao2_fio2, "pao2_fio2")
    sf = None if spo2_fio2 is None else require_positive(spo2_fio2, "spo2_fio2")

    if bilirubin < BILIRUBIN_2_POINTS_MG_DL:
        liver = 1
    elif bilirubin < BILIRUBIN_FAILURE_MG_DL:
        liver = 2
    else:
        liver = 3

    if rrt or creatinine >= CREATININE_3_POINTS_MG_DL:
        kidney = 3
    elif creatinine >= CREATININE_2_POINTS_MG_DL:
        kidney = 2
    else:
        kidney = 1

    brain = encephalopathy_points(he_grade)

    if inr_value < INR_2_POINTS:
        coagulation = 1
    elif inr_value < INR_FAILURE:
        coagulation = 2
    else:
        coagulation = 3

    if pressors:
        circulation = 3
    elif map_mmhg < MAP_LOW_MMHG:
        circulation = 2
    else:
        circulation = 1

    if pf is not None:
        measure = "pao2_fio2"
        low, high = PAO2_FIO2_2_POINTS_ABOVE, PAO2_FIO2_1_POINT_ABOVE
        ratio = pf
    else:
        measure = "spo2_fio2"
        low, high = SPO2_FIO2_2_POINTS_ABOVE, SPO2_FIO2_1_POINT_ABOVE
        ratio = sf  # type: ignore[assignment]
    if ratio > high:
        respiration = 1
    elif ratio > low:
        respiration = 2
    else:
        respiration = 3

    points = {
        "liver": liver,
        "kidney": kidney,
        "brain": brain,
        "coagulation": coagulation,
        "circulation": circulation,
        "respiration": respiration,
    }
    # Organ failure (Moreau 2013): the 3-point band, except kidney (>= 2 points,
    # i.e. creatinine >= 2.0 mg/dL or renal replacement).
    failures = tuple(
        organ
        for organ in ORGANS
        if points[organ] == 3 or (organ == "kidney" and points[organ] >= 2)
    )
    return ClifOfResult(
        value=sum(points.values()),
        points=points,
        organ_failures=failures,
        respiration_measure=measure,
        inputs={
            "bilirubin_mg_dl": bilirubin,
            "creatinine_mg_dl": creatinine,
            "renal_replacement": rrt,
            "encephalopathy_grade": he_grade,
            "inr": inr_value,
            "mean_arterial_pressure_mmhg": map_mmhg,
            "vasopressors": pressors,
            "pao2_fio2": pf,
            "spo2_fio2": sf,
        },
    )


def clif_organ_failures(
    *,
    bilirubin_mg_dl: float,
    creatinine_mg_dl: float,
    renal_replacement: bool,
    encephalopathy_grade: int,
    inr: float,
    mean_arterial_pressure_mmhg: float,
    vasopressors: bool,
    pao2_fio2: float | None = None,
    spo2_fio2: float | None = None,
) -> tuple[str, ...]:
    """The EASL-CLIF organ failures (Moreau 2013), in ORGANS order.

    liver bilirubin >= 12 mg/dL; kidney creatinine >= 2.0 mg/dL or renal
    replacement; brain West Haven 3-4; coagulation INR >= 2.5; circulation
    vasopressors; respiration PaO2/FiO2 <= 200 or SpO2/FiO2 <= 214.
    """
    return clif_c_of(
        bilirubin_mg_dl=bilirubin_mg_dl,
        creatinine_mg_dl=creatinine_mg_dl,
        renal_replacement=renal_replacement,
        encephalopathy_grade=encephalopathy_grade,
        inr=inr,
        mean_arterial_pressure_mmhg=mean_arterial_pressure_mmhg,
        vasopressors=vasopressors,
        pao2_fio2=pao2_fio2,
        spo2_fio2=spo2_fio2,
    ).organ_failures


def aclf_grade(
    *,
    bilirubin_mg_dl: float,
    creatinine_mg_dl: float,
    renal_replacement: bool,
    encephalopathy_grade: int,
    inr: float,
    mean_arterial_pressure_mmhg: float,
    vasopressors: bool,
    pao2_fio2: float | None = None,
    spo2_fio2: float | None = None,
) -> AclfGradeResult:
    """EASL-CLIF ACLF grade (Moreau 2013).

    0  no organ failure; or one non-kidney failure with creatinine < 1.5 and no
       HE; or brain failure alone with creatinine < 1.5
    1  kidney failure alone; or one liver/coagulation/circulation/respiration
       failure with creatinine 1.5-1.9 and/or HE grade 1-2; or brain failure
       alone with creatinine 1.5-1.9
    2  two organ failures
    3  three or more organ failures
    """
    of = clif_c_of(
        bilirubin_mg_dl=bilirubin_mg_dl,
        creatinine_mg_dl=creatinine_mg_dl,
        renal_replacement=renal_replacement,
        encephalopathy_grade=encephalopathy_grade,
        inr=inr,
        mean_arterial_pressure_mmhg=mean_arterial_pressure_mmhg,
        vasopressors=vasopressors,
        pao2_fio2=pao2_fio2,
        spo2_fio2=spo2_fio2,
    )
    failures = of.organ_failures
    creatinine = float(of.inputs["creatinine_mg_dl"])  # type: ignore[arg-type]
    he_grade = int(of.inputs["encephalopathy_grade"])  # type: ignore[arg-type]
    # Only meaningful without kidney failure: Cr >= 2.0 (or RRT) is failure.
    kidney_dysfunction = "kidney" not in failures and creatinine >= KIDNEY_DYSFUNCTION_FROM_MG_DL
    mild_he = 1 <= he_grade <= 2

    count = len(failures)
    if count == 0:
        grade, reason = 0, "no organ failure"
    elif count >= 3:
        grade, reason = 3, f"{count} organ failures ({', '.join(failures)})"
    elif count == 2:
        grade, reason = 2, f"2 organ failures ({', '.join(failures)})"
    else:
        organ = failures[0]
        if organ == "kidney":
            grade, reason = 1, "single kidney failure"
        elif organ == "brain":
            if kidney_dysfunction:
                grade, reason = 1, "single brain failure with creatinine 1.5-1.9 mg/dL"
            else:
                grade, reason = 0, "single brain failure with creatinine < 1.5 mg/dL"
        else:
            modifiers = []
            if kidney_dysfunction:
                modifiers.append("creatinine 1.5-1.9 mg/dL")
            if mild_he:
                modifiers.append("HE grade 1-2")
            if modifiers:
                grade = 1
                reason = f"single {organ} failure with {' and '.join(modifiers)}"
            else:
                grade = 0
                reason = f"single {organ} failure with creatinine < 1.5 mg/dL and no HE"
    return AclfGradeResult(
        value=grade,
        organ_failures=failures,
        reason=reason,
        kidney_dysfunction=kidney_dysfunction,
        mild_encephalopathy=mild_he,
    )


def clif_c_aclf(
    *,
    bilirubin_mg_dl: float,
    creatinine_mg_dl: float,
    renal_replacement: bool,
    encephalopathy_grade: int,
    inr: float,
    mean_arterial_pressure_mmhg: float,
    vasopressors: bool,
    age_years: float,
    wbc_10e9_l: float,
    pao2_fio2: float | None = None,
    spo2_fio2: float | None = None,
) -> ClifAclfResult:
    """CLIF-C ACLF = 10 x [0.33 CLIF-C OF + 0.04 age + 0.63 ln(WBC) - 2] (Jalan 2014).

    Rounding: ``value`` is rounded half up to one decimal. The published
    coefficients carry two significant digits, so more decimals are noise, but
    rounding to a whole number would move a score by up to 0.5 across the
    cut-offs used in practice (e.g. > 64, >= 70); compare with cut-offs using
    ``unrounded`` when the decision matters. The score is defined for patients
    with ACLF; it is computed for any input here.
    """
    of = clif_c_of(
        bilirubin_mg_dl=bilirubin_mg_dl,
        creatinine_mg_dl=creatinine_mg_dl,
        renal_replacement=renal_replacement,
        encephalopathy_grade=encephalopathy_grade,
        inr=inr,
        mean_arterial_pressure_mmhg=mean_arterial_pressure_mmhg,
        vasopressors=vasopressors,
        pao2_fio2=pao2_fio2,
        spo2_fio2=spo2_fio2,
    )
    age = require_positive(age_years, "age_years")
    wbc = require_positive(wbc_10e9_l, "wbc_10e9_l")
    unrounded = ACLF_SCALE * (
        ACLF_COEF_OF * of.value
        + ACLF_COEF_AGE * age
        + ACLF_COEF_LN_WBC * math.log(wbc)
        + ACLF_CONSTANT
    )
    return ClifAclfResult(
        value=round_half_up(unrounded, 1), unrounded=unrounded, clif_c_of=of
    )
