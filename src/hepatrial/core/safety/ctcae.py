"""CTCAE v5.0 grading of laboratory values (grades 0-4).

Each lab term is data: a list of criteria ``(grade, comparison, reference,
factor, offset)`` read from NCI CTCAE v5.0 as encoded in pharmaverse admiral
``data-raw/adlb_grading/ncictcaev5.json`` (commit 1df39730; the facts are
taken from its GRADE_n text and GRADE_n_CODE columns, the code is ours). The
grade is the highest grade whose criterion holds.

Rules that matter here (see docs/ctcae.md):

- **Abnormal baseline.** For bilirubin, ALT, AST and alkaline phosphatase
  CTCAE v5 grades "x ULN if baseline was normal" and "x baseline if baseline
  was abnormal". Baseline abnormal means baseline > ULN (admiral:
  ``BNRIND %in% high_indicator``). In ACLF every patient starts with an
  abnormal bilirubin, so the on-treatment grade is relative to that baseline.
- **Creatinine** has both "x ULN" and "x baseline" criteria; the grade is
  the highest that holds (baseline criteria whatever the baseline's range, as
  CTCAE v5 prints them and admiral encodes them).
- **INR** grades on absolute values (> 1.2, > 1.5, > 2.5); the "x baseline"
  criteria apply only "if on anticoagulation" (``on_anticoagulation=True``).
- **Comparison.** Every value and reference is first rounded to 12
  significant digits (as :mod:`hepatrial.core.units` does, which removes
  binary noise) and the threshold ``factor x reference + offset`` is then
  computed in exact decimal arithmetic. So 3.0 x ULN 40 is exactly 120, and a
  value of exactly 120 is *not* "> 3.0 x ULN" (admiral compares
  ``signif(AVAL, d) > signif(3 * ANRHI, d)``, the same thing).
- **Missing reference ranges.** A criterion whose ULN/LLN is missing is
  unknown; the result is None when an unknown criterion could raise the
  grade above what the known ones give (so a platelet count of 40 is grade 3
  without an LLN, but 100 cannot be told grade 0 from grade 1). ``baseline=
  None`` means "no baseline" (for example grading the baseline sample
  itself): the "abnormal baseline" branch and creatinine's baseline criteria
  then do not apply -- except INR on anticoagulation, whose baseline criteria
  are then unknown.
- **Clinical grades.** Grades defined only clinically ("life-threatening
  consequences; urgent intervention indicated", "clinical manifestations of
  leucostasis") cannot be derived from a number: the lab grade stops at
  ``max_lab_grade`` and the investigator grades above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from numbers import Real

from hepatrial.core.errors import FieldInputError
from hepatrial.core.labs import LAB_TESTS, LabError, to_canonical
from hepatrial.core.safety.ctcae_terms import INVESTIGATIONS
from hepatrial.core.units import round_significant

__all__ = [
    "CtcaeInputError",
    "Criterion",
    "LabTerm",
    "LabGrade",
    "LAB_TERMS",
    "grade_term",
    "grade_lab",
    "terms_for_analyte",
]

ULN = "ULN"
LLN = "LLN"
BASELINE = "baseline"
FIXED = "fixed"


class CtcaeInputError(FieldInputError):
    """An input to CTCAE grading is missing, of the wrong type or impossible.

    ``field`` names the argument (``"value"``, ``"uln"``, ``"lln"``,
    ``"baseline"``, ``"analyte"``, ``"term"``, ``"unit"``) and ``reason`` says
    what is wrong.
    """


@dataclass(frozen=True)
class Criterion:
    """One CTCAE threshold: ``value <op> factor x reference + offset`` gives ``grade``.

    ``reference`` is "ULN", "LLN", "baseline" or "fixed" (``factor`` is then
    the threshold itself, in the analyte's canonical unit).
    """

    grade: int
    op: str  # ">", ">=" or "<"
    reference: str
    factor: Decimal = Decimal("1")
    offset: Decimal = Decimal("0")


@dataclass(frozen=True)
class LabTerm:
    """A CTCAE v5.0 term graded from one analyte of ``LAB_TESTS``."""

    term: str
    analyte: str
    soc: str
    #: The criteria that always apply (for the four liver tests: the
    #: "if baseline was normal" branch).
    criteria: tuple[Criterion, ...]
    #: Replaces ``criteria`` when the baseline is above the ULN.
    abnormal_baseline: tuple[Criterion, ...] = ()
    #: Added to ``criteria`` when the patient is on anticoagulation (INR).
    anticoagulation: tuple[Criterion, ...] = ()
    #: The highest grade a lab value alone can give.
    max_lab_grade: int = 4
    #: What CTCAE says above ``max_lab_grade`` (clinical, not lab-derivable).
    clinical_above: str = ""

    @property
    def unit(self) -> str:
        return LAB_TESTS[self.analyte].canonical_unit


def _c(grade: int, op: str, reference: str, factor: str = "1", offset: str = "0") -> Criterion:
    return Criterion(grade, op, reference, Decimal(factor), Decimal(offset))


_INV = INVESTIGATIONS

# --- the terms, from admiral data-raw/adlb_grading/ncictcaev5.json -----------
# (GRADE_n is the CTCAE v5.0 text; GRADE_n_CODE the comparison admiral makes.)
_TERMS: tuple[LabTerm, ...] = (
    # Blood bilirubin increased: ">ULN - 1.5 x ULN if baseline was normal;
    # > 1.0 - 1.5 x baseline if baseline was abnormal"; G2 >1.5-3.0 x; G3
    # >3.0-10.0 x; G4 >10.0 x (ULN or baseline).
    LabTerm(
        "Blood bilirubin increased", "total_bilirubin", _INV,
        criteria=(_c(1, ">", ULN), _c(2, ">", ULN, "1.5"), _c(3, ">", ULN, "3.0"), _c(4, ">", ULN, "10.0")),
        abnormal_baseline=(
            _c(1, ">", BASELINE, "1.0"), _c(2, ">", BASELINE, "1.5"),
            _c(3, ">", BASELINE, "3.0"), _c(4, ">", BASELINE, "10.0"),
        ),
    ),
    # Alanine aminotransferase increased: ">ULN - 3.0 x ULN if baseline was
    # normal; 1.5 - 3.0 x baseline if baseline was abnormal" (no '>' before 1.5:
    # admiral GRADE_1_CODE uses >= 1.5*BASE); G2 >3.0-5.0; G3 >5.0-20.0; G4 >20.0.
    LabTerm(
        "Alanine aminotransferase increased", "alt", _INV,
        criteria=(_c(1, ">", ULN), _c(2, ">", ULN, "3.0"), _c(3, ">", ULN, "5.0"), _c(4, ">", ULN, "20.0")),
        abnormal_baseline=(
            _c(1, ">=", BASELINE, "1.5"), _c(2, ">", BASELINE, "3.0"),
            _c(3, ">", BASELINE, "5.0"), _c(4, ">", BASELINE, "20.0"),
        ),
    ),
    # Aspartate aminotransferase increased: same thresholds as ALT.
    LabTerm(
        "Aspartate aminotransferase increased", "ast", _INV,
        criteria=(_c(1, ">", ULN), _c(2, ">", ULN, "3.0"), _c(3, ">", ULN, "5.0"), _c(4, ">", ULN, "20.0")),
        abnormal_baseline=(
            _c(1, ">=", BASELINE, "1.5"), _c(2, ">", BASELINE, "3.0"),
            _c(3, ">", BASELINE, "5.0"), _c(4, ">", BASELINE, "20.0"),
        ),
    ),
    # Alkaline phosphatase increased: ">ULN - 2.5 x ULN if baseline was normal;
    # 2.0 - 2.5 x baseline if baseline was abnormal" (admiral: >= 2*BASE);
    # G2 >2.5-5.0; G3 >5.0-20.0; G4 >20.0.
    LabTerm(
        "Alkaline phosphatase increased", "alkaline_phosphatase", _INV,
        criteria=(_c(1, ">", ULN), _c(2, ">", ULN, "2.5"), _c(3, ">", ULN, "5.0"), _c(4, ">", ULN, "20.0")),
        abnormal_baseline=(
            _c(1, ">=", BASELINE, "2.0"), _c(2, ">", BASELINE, "2.5"),
            _c(3, ">", BASELINE, "5.0"), _c(4, ">", BASELINE, "20.0"),
        ),
    ),
    # INR increased: ">1.2 - 1.5; >1 - 1.5 x baseline if on anticoagulation";
    # G2 ">1.5 - 2.5; >1.5 - 2.5 x baseline ..."; G3 ">2.5; >2.5 times above
    # baseline if on anticoagulation"; G4 and G5 "-".
    LabTerm(
        "INR increased", "inr", _INV,
        criteria=(_c(1, ">", FIXED, "1.2"), _c(2, ">", FIXED, "1.5"), _c(3, ">", FIXED, "2.5")),
        anticoagulation=(_c(1, ">", BASELINE, "1"), _c(2, ">", BASELINE, "1.5"), _c(3, ">", BASELINE, "2.5")),
        max_lab_grade=3,
        clinical_above="CTCAE v5.0 defines no grade 4 or 5 for INR increased",
    ),
    # Creatinine increased: G1 ">ULN - 1.5 x ULN"; G2 ">1.5 - 3.0 x baseline;
    # >1.5 - 3.0 x ULN"; G3 ">3.0 baseline; >3.0 - 6.0 x ULN"; G4 ">6.0 x ULN".
    LabTerm(
        "Creatinine increased", "creatinine", _INV,
        criteria=(
            _c(1, ">", ULN), _c(2, ">", ULN, "1.5"), _c(3, ">", ULN, "3.0"), _c(4, ">", ULN, "6.0"),
            _c(2, ">", BASELINE, "1.5"), _c(3, ">", BASELINE, "3.0"),
        ),
    ),
    # Hypoalbuminemia: "<LLN - 3 g/dL; <LLN - 30 g/L"; G2 "<3 - 2 g/dL; <30 - 20
    # g/L"; G3 "<2 g/dL; <20 g/L"; G4 "Life-threatening consequences; urgent
    # intervention indicated".
    LabTerm(
        "Hypoalbuminemia", "albumin", "Metabolism and nutrition disorders",
        criteria=(_c(1, "<", LLN), _c(2, "<", FIXED, "30"), _c(3, "<", FIXED, "20")),
        max_lab_grade=3,
        clinical_above="grade 4: life-threatening consequences; urgent intervention indicated",
    ),
    # Platelet count decreased: "<LLN - 75.0 x 10e9 /L"; G2 "<75.0 - 50.0";
    # G3 "<50.0 - 25.0"; G4 "<25.0 x 10e9 /L".
    LabTerm(
        "Platelet count decreased", "platelets", _INV,
        criteria=(_c(1, "<", LLN), _c(2, "<", FIXED, "75.0"), _c(3, "<", FIXED, "50.0"), _c(4, "<", FIXED, "25.0")),
    ),
    # Neutrophil count decreased: "<LLN - 1.5 x 10e9 /L"; G2 "<1.5 - 1.0";
    # G3 "<1.0 - 0.5"; G4 "<0.5 x 10e9 /L".
    LabTerm(
        "Neutrophil count decreased", "neutrophils", _INV,
        criteria=(_c(1, "<", LLN), _c(2, "<", FIXED, "1.5"), _c(3, "<", FIXED, "1.0"), _c(4, "<", FIXED, "0.5")),
    ),
    # White blood cell decreased: "<LLN - 3.0 x 10e9 /L"; G2 "<3.0 - 2.0";
    # G3 "<2.0 - 1.0"; G4 "<1.0 x 10e9 /L".
    LabTerm(
        "White blood cell decreased", "wbc", _INV,
        criteria=(_c(1, "<", LLN), _c(2, "<", FIXED, "3.0"), _c(3, "<", FIXED, "2.0"), _c(4, "<", FIXED, "1.0")),
    ),
    # Leukocytosis: G1 "-", G2 "-", G3 ">100,000/mm3" (= 100 x 10^9/L);
    # G4 "Clinical manifestations of leucostasis; urgent intervention indicated".
    LabTerm(
        "Leukocytosis", "wbc", "Blood and lymphatic system disorders",
        criteria=(_c(3, ">", FIXED, "100"),),
        max_lab_grade=3,
        clinical_above="grade 4: clinical manifestations of leucostasis; urgent intervention indicated",
    ),
    # Anemia: "Hemoglobin (Hgb) <LLN - 10.0 g/dL; ... <LLN - 100 g/L"; G2
    # "<100 - 80g/L"; G3 "<80 g/L; transfusion indicated"; G4 "Life-threatening
    # consequences; urgent intervention indicated".
    LabTerm(
        "Anemia", "hemoglobin", "Blood and lymphatic system disorders",
        criteria=(_c(1, "<", LLN), _c(2, "<", FIXED, "100"), _c(3, "<", FIXED, "80")),
        max_lab_grade=3,
        clinical_above="grade 3 also 'transfusion indicated'; grade 4: life-threatening consequences; "
        "urgent intervention indicated",
    ),
    # Hemoglobin increased: "Increase in >0 - 2 g/dL above ULN"; G2 ">2 - 4 g/dL
    # above ULN"; G3 ">4 g/dL above ULN" (20 and 40 g/L; admiral ANRHI + 20/40).
    LabTerm(
        "Hemoglobin increased", "hemoglobin", _INV,
        criteria=(_c(1, ">", ULN), _c(2, ">", ULN, "1", "20"), _c(3, ">", ULN, "1", "40")),
        max_lab_grade=3,
        clinical_above="CTCAE v5.0 defines no grade 4 or 5 for hemoglobin increased",
    ),
)

#: Every lab-graded term by its exact CTCAE v5.0 name.
LAB_TERMS: dict[str, LabTerm] = {t.term: t for t in _TERMS}


@dataclass(frozen=True)
class LabGrade:
    """The CTCAE v5.0 grade of one lab value for one term.

    grade            0-4, or None when it cannot be graded (a reference range
                     that could change the grade is missing).
    criterion        the rule that decided, in words, with the numbers used.
    reference        which reference decided: "ULN", "LLN", "baseline",
                     "fixed" (an absolute CTCAE threshold), or None.
    reference_value  that reference's value (None for "fixed").
    abnormal_baseline  True when the "baseline was abnormal" branch was used.
    max_lab_grade    the highest grade a lab value can give for this term;
                     above it CTCAE's criteria are clinical (``clinical_above``).
    """

    term: str
    analyte: str
    value: float
    unit: str
    grade: int | None
    criterion: str
    reference: str | None
    reference_value: float | None
    abnormal_baseline: bool
    max_lab_grade: int
    clinical_above: str

    @property
    def at_lab_cap(self) -> bool:
        """True when the grade is the highest a lab value can give (clinical
        assessment may raise it, e.g. anemia with transfusion indicated)."""
        return self.grade is not None and self.grade == self.max_lab_grade


# --- input checks ---------------------------------------------------------------


def _number(value: object, field: str, *, allow_none: bool) -> float | None:
    if value is None:
        if allow_none:
            return None
        raise CtcaeInputError(field, "is required")
    if isinstance(value, bool) or not isinstance(value, Real):
        raise CtcaeInputError(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise CtcaeInputError(field, f"must be a finite number, got {number!r}")
    if number < 0:
        raise CtcaeInputError(field, f"must not be negative, got {number!r}")
    return number


def _lab_term(term: str) -> LabTerm:
    try:
        return LAB_TERMS[term]
    except KeyError:
        raise CtcaeInputError("term", f"unknown lab-graded CTCAE term {term!r}; known: {', '.join(LAB_TERMS)}") from None


def terms_for_analyte(analyte: str) -> tuple[LabTerm, ...]:
    """The CTCAE terms graded from ``analyte`` (a ``LAB_TESTS`` name)."""
    found = tuple(t for t in _TERMS if t.analyte == analyte)
    if not found:
        graded = sorted({t.analyte for t in _TERMS})
        if analyte not in LAB_TESTS:
            raise CtcaeInputError("analyte", f"unknown analyte {analyte!r}; CTCAE-graded: {', '.join(graded)}")
        raise CtcaeInputError("analyte", f"{analyte!r} has no CTCAE lab grading here; graded: {', '.join(graded)}")
    return found


# --- exact comparison -------------------------------------------------------------


def _dec(x: float) -> Decimal:
    """``x`` rounded to 12 significant digits, as an exact Decimal."""
    return Decimal(repr(round_significant(x)))


def _holds(op: str, value: Decimal, threshold: Decimal) -> bool:
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    raise AssertionError(f"unknown comparison {op!r}")  # the table above is wrong


_NEGATION = {">": "<=", ">=": "<", "<": ">="}


def _fmt(x: float | Decimal) -> str:
    text = format(Decimal(repr(round_significant(float(x)))).normalize(), "f")
    return text


def _with_unit(number: str, unit: str) -> str:
    return number if unit == "ratio" else f"{number} {unit}"


def _describe(label: str, value: float, unit: str, op: str, crit: Criterion, ref_value: float | None,
              abnormal: bool) -> str:
    lhs = f"{label} {_with_unit(_fmt(value), unit)} {op}"
    if crit.reference == FIXED:
        return f"{lhs} {_with_unit(_fmt(crit.factor), unit)}"
    ref = f"{crit.reference} {_with_unit(_fmt(ref_value), unit)}"
    if crit.offset:
        rhs = f"{ref} + {_with_unit(_fmt(crit.offset), unit)}"
    elif crit.factor == 1 and crit.reference in (ULN, LLN):
        rhs = ref
    else:
        rhs = f"{crit.factor} x {ref}"
    note = " (abnormal baseline)" if abnormal and crit.reference == BASELINE else ""
    return f"{lhs} {rhs}{note}"


# --- grading ----------------------------------------------------------------------


def _convert(analyte: str, unit: str | None, **values: float | None) -> dict[str, float | None]:
    if unit is None:
        return values
    out: dict[str, float | None] = {}
    for field, v in values.items():
        if v is None:
            out[field] = None
            continue
        try:
            out[field] = to_canonical(analyte, v, unit)
        except LabError as err:
            raise CtcaeInputError("unit", err.reason) from None
    return out


def grade_term(
    term: str,
    value: float,
    *,
    uln: float | None = None,
    lln: float | None = None,
    baseline: float | None = None,
    unit: str | None = None,
    on_anticoagulation: bool = False,
) -> LabGrade:
    """The CTCAE v5.0 grade of ``value`` for the lab term ``term``.

    ``value``, ``uln``, ``lln`` and ``baseline`` are in the analyte's canonical
    unit (``LAB_TESTS[analyte].canonical_unit``) unless ``unit`` names the unit
    they are all given in. ``uln``/``lln`` are the site's reference range for
    the patient's sex; ``baseline`` the subject's baseline value (None: no
    baseline). ``on_anticoagulation`` switches on INR's "x baseline" criteria.
    """
    spec = _lab_term(term)
    label = LAB_TESTS[spec.analyte].label
    value_f = _number(value, "value", allow_none=False)
    uln_f = _number(uln, "uln", allow_none=True)
    lln_f = _number(lln, "lln", allow_none=True)
    baseline_f = _number(baseline, "baseline", allow_none=True)
    if not isinstance(on_anticoagulation, bool):
        raise CtcaeInputError("on_anticoagulation", f"must be True or False, got {on_anticoagulation!r}")
    if uln_f is not None and uln_f <= 0:
        raise CtcaeInputError("uln", f"must be greater than 0, got {uln_f!r}")
    if uln_f is not None and lln_f is not None and _dec(lln_f) > _dec(uln_f):
        raise CtcaeInputError("lln", f"LLN {lln_f!r} is above the ULN {uln_f!r}")
    converted = _convert(spec.analyte, unit, value=value_f, uln=uln_f, lln=lln_f, baseline=baseline_f)
    value_f, uln_f, lln_f, baseline_f = (converted[k] for k in ("value", "uln", "lln", "baseline"))
    unit_c = spec.unit

    # Which branch: "if baseline was abnormal" needs the ULN to know.
    abnormal = False
    if spec.abnormal_baseline and baseline_f is not None:
        if uln_f is None:
            return LabGrade(
                spec.term, spec.analyte, value_f, unit_c, None,
                f"cannot be graded: the ULN is needed (to grade, and to tell whether baseline "
                f"{_with_unit(_fmt(baseline_f), unit_c)} was abnormal)",
                None, None, False, spec.max_lab_grade, spec.clinical_above,
            )
        abnormal = _dec(baseline_f) > _dec(uln_f)
    criteria = spec.abnormal_baseline if abnormal else spec.criteria
    if on_anticoagulation:
        criteria = criteria + spec.anticoagulation
    refs = {ULN: uln_f, LLN: lln_f, BASELINE: baseline_f}

    value_d = _dec(value_f)
    met: list[Criterion] = []
    unknown: list[Criterion] = []
    applicable: list[Criterion] = []
    for crit in criteria:
        if crit.reference == FIXED:
            threshold = crit.factor
        else:
            ref_value = refs[crit.reference]
            if ref_value is None:
                # No baseline = no baseline criterion, except INR on
                # anticoagulation (its criteria exist but are unknown).
                if crit.reference == BASELINE and crit not in spec.anticoagulation:
                    continue
                unknown.append(crit)
                continue
            threshold = crit.factor * _dec(ref_value) + crit.offset
        applicable.append(crit)
        if _holds(crit.op, value_d, threshold):
            met.append(crit)

    best = max((c.grade for c in met), default=0)
    blocking = [c for c in unknown if c.grade > best]
    if blocking:
        missing = sorted({c.reference for c in blocking})
        grades = sorted({c.grade for c in blocking})
        return LabGrade(
            spec.term, spec.analyte, value_f, unit_c, None,
            f"cannot be graded: {' and '.join(missing)} not given (needed for grade "
            f"{', '.join(map(str, grades))}; the given references alone give grade {best})",
            None, None, abnormal, spec.max_lab_grade, spec.clinical_above,
        )

    if met:
        decisive = next(c for c in met if c.grade == best)
        ref_value = refs.get(decisive.reference)
        text = _describe(label, value_f, unit_c, decisive.op, decisive, ref_value, abnormal)
        return LabGrade(
            spec.term, spec.analyte, value_f, unit_c, best, text, decisive.reference,
            ref_value, abnormal, spec.max_lab_grade, spec.clinical_above,
        )

    # Grade 0: say which lowest threshold (per reference) was not reached.
    lowest: dict[str, Criterion] = {}
    for crit in applicable:
        kind = crit.reference
        if kind not in lowest or crit.grade < lowest[kind].grade:
            lowest[kind] = crit
    ordered = sorted(lowest.values(), key=lambda c: c.grade)
    parts = [
        _describe(label, value_f, unit_c, _NEGATION[c.op], c, refs.get(c.reference), abnormal)
        for c in ordered
    ]
    # "Creatinine 40 umol/L <= ULN 40 umol/L and <= 1.5 x baseline 40 umol/L"
    subject = f"{label} {_with_unit(_fmt(value_f), unit_c)} "
    text = " and ".join([parts[0]] + [p.removeprefix(subject) for p in parts[1:]])
    first = ordered[0]
    return LabGrade(
        spec.term, spec.analyte, value_f, unit_c, 0, text, first.reference,
        refs.get(first.reference), abnormal, spec.max_lab_grade, spec.clinical_above,
    )


def grade_lab(
    analyte: str,
    value: float,
    *,
    uln: float | None = None,
    lln: float | None = None,
    baseline: float | None = None,
    unit: str | None = None,
    on_anticoagulation: bool = False,
) -> tuple[LabGrade, ...]:
    """Every CTCAE v5.0 term graded from ``analyte`` (hemoglobin gives Anemia
    and Hemoglobin increased; wbc gives White blood cell decreased and
    Leukocytosis), in the order of :data:`LAB_TERMS`."""
    return tuple(
        grade_term(
            spec.term, value, uln=uln, lln=lln, baseline=baseline, unit=unit,
            on_anticoagulation=on_anticoagulation,
        )
        for spec in terms_for_analyte(analyte)
    )
