"""CTCAE v5.0 grade bands of a lab value's axis, and the reference range a subject's lab
values are graded against: which value ranges take which grade, from the same criteria as
:func:`hepatrial.core.safety.ctcae.grade_term` (the lab plots draw them behind the values).
Pure: moved out of the web package (web/trial/charts.py re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hepatrial.core.safety.ctcae import _dec, _with_unit, terms_for_analyte
from hepatrial.core.safety.reference_ranges import DEFAULT_RANGES, ReferenceRange

# --- reference ranges ----------------------------------------------------------------------


def default_range(
    analyte: str, sex: str | None, table: dict[tuple[str, str], ReferenceRange] | None = None
) -> ReferenceRange | None:
    """The range of ``analyte`` for ``sex`` ("male"/"female"/None) in ``table``
    (default :data:`DEFAULT_RANGES`): the sex's own row, else the "any" row, else None.

    A per-site table (the site laboratory's ranges) has the same shape and is
    passed as ``table``."""
    table = DEFAULT_RANGES if table is None else table
    if sex:
        found = table.get((analyte, sex))
        if found is not None:
            return found
    return table.get((analyte, "any"))


# --- grade bands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Values from ``low`` to ``high`` (canonical unit; None: unbounded) take ``grade``
    (None: cannot be told, a reference range is missing). ``rule`` says why."""

    grade: int | None
    low: float | None
    high: float | None
    rule: str


def _num(x: float | Decimal) -> str:
    """A number as a person writes it: 12 significant digits, no trailing zeros."""
    text = format(_dec(float(x)).normalize(), "f")
    return "0" if text in ("-0", "") else text


def number_text(x: float) -> str:
    """A value as shown in the plot's tooltips and tables (``_num``)."""
    return _num(x)


def grade_bands(
    analyte: str,
    *,
    uln: float | None = None,
    lln: float | None = None,
    baseline: float | None = None,
    on_anticoagulation: bool = False,
) -> tuple[Band, ...]:
    """The CTCAE v5.0 grade bands of ``analyte`` from low values to high, for the
    references given (canonical unit), read from the term's criteria in
    :data:`hepatrial.core.safety.ctcae.LAB_TERMS` with the rules of
    :func:`~hepatrial.core.safety.ctcae.grade_term`: the "abnormal baseline"
    branch replaces the ULN one when ``baseline`` > ``uln``; a baseline
    criterion without a baseline does not apply; a criterion whose ULN/LLN is
    missing makes the grades it could decide unknown.

    A value is grade >= g when any criterion of grade >= g holds, so for an
    increasing term the boundary of grade g is the lowest threshold of the
    criteria of grade >= g (the highest one for a decreasing term). Empty when
    no band can be told (e.g. bilirubin with a baseline but no ULN)."""
    (spec, *_others) = terms_for_analyte(analyte)
    unit = spec.unit
    if spec.abnormal_baseline and baseline is not None:
        if uln is None:
            return ()
        criteria = spec.abnormal_baseline if _dec(baseline) > _dec(uln) else spec.criteria
    else:
        criteria = spec.criteria
    if on_anticoagulation:
        criteria = criteria + spec.anticoagulation
    refs = {"ULN": uln, "LLN": lln, "baseline": baseline}
    rising = criteria[0].op in (">", ">=")

    # (grade, threshold or None if unknown, rule text)
    known: list[tuple[int, Decimal, str]] = []
    unknown_grades: set[int] = set()
    for crit in criteria:
        if crit.reference == "fixed":
            threshold = crit.factor
            text = f"{crit.op} {_with_unit(_num(crit.factor), unit)}"
        else:
            ref = refs[crit.reference]
            if ref is None:
                if crit.reference == "baseline" and crit not in spec.anticoagulation:
                    continue
                unknown_grades.add(crit.grade)
                continue
            threshold = crit.factor * _dec(ref) + crit.offset
            ref_text = f"{crit.reference} {_with_unit(_num(ref), unit)}"
            if crit.offset:
                text = f"{crit.op} {ref_text} + {_with_unit(_num(crit.offset), unit)}"
            elif crit.factor == 1 and crit.reference in ("ULN", "LLN"):
                text = f"{crit.op} {ref_text}"
            else:
                text = f"{crit.op} {_num(crit.factor)} x {ref_text}"
            if crit.factor != 1 or crit.offset:
                text += f" = {_with_unit(_num(threshold), unit)}"
        known.append((crit.grade, threshold, text))

    top = spec.max_lab_grade
    # boundary[g]: (threshold, rule) beyond which the grade is >= g; None: unknown.
    boundary: dict[int, tuple[Decimal, str] | None] = {}
    for g in range(1, top + 1):
        if any(u >= g for u in unknown_grades):
            boundary[g] = None
            continue
        candidates = [(t, text) for grade, t, text in known if grade >= g]
        if not candidates:
            continue  # no criterion of this grade or above (Leukocytosis grades 1-2)
        pick = min(candidates, key=lambda c: c[0]) if rising else max(candidates, key=lambda c: c[0])
        boundary[g] = pick

    bands: list[Band] = []
    edges = [(g, boundary[g]) for g in sorted(boundary) if boundary[g] is not None]
    # the grades below the lowest known boundary
    first_grade = edges[0][0] if edges else top + 1
    # boundary[g] None (unknown) implies every lower grade is unknown too
    below_grade = None if any(boundary.get(g, 0) is None for g in range(1, first_grade)) else 0
    if not edges:
        below_rule = "no grade can be told without the reference range"
    elif below_grade is None:
        below_rule = f"grade below {first_grade}; which one needs a reference range that is not given"
    else:
        t1 = _with_unit(_num(edges[0][1][0]), unit)
        below_rule = f"{'<=' if rising else '>='} {t1}: below grade {first_grade}"
    outer: float | None = float(edges[0][1][0]) if edges else None
    if rising:
        bands.append(Band(below_grade, 0.0, outer, below_rule))
        for i, (g, (t, text)) in enumerate(edges):
            high = float(edges[i + 1][1][0]) if i + 1 < len(edges) else None
            bands.append(Band(g, float(t), high, text))
    else:
        bands.append(Band(below_grade, outer, None, below_rule))
        for i, (g, (t, text)) in enumerate(edges):
            low = float(edges[i + 1][1][0]) if i + 1 < len(edges) else 0.0
            bands.append(Band(g, low, float(t), text))
        bands.reverse()  # low values first
    # a band of zero height (two grades with the same threshold) says nothing
    return tuple(b for b in bands if b.low is None or b.high is None or b.high > b.low)
