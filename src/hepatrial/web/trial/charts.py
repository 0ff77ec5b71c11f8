"""Lab trajectories as SVG, drawn server-side: one plot per analyte, the values
against study day, with the CTCAE v5.0 grade bands shaded behind the line.

Pure Python (no Django): plain data in, SVG text out. The output is
deterministic (the same data gives byte-identical SVG) and every piece of
text in it is escaped, so the caller may put it in a page as it is.

The grade bands come from the criteria of :mod:`hepatrial.core.safety.ctcae`
(``LAB_TERMS``), with the same references the grading uses: the reference
range passed in and, where CTCAE v5.0 says so, the subject's baseline (the
last value on or before day 0). Values up to and including the baseline are
graded and banded as v5 grades a sample with no baseline (against the ULN/LLN);
values after it against the baseline where the baseline was abnormal
(bilirubin, ALT, AST, alkaline phosphatase) and, for creatinine, against both
the ULN and the baseline. The plot draws the two band sets on either side of
the baseline sample when they differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from html import escape

from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.safety.ctcae import (
    CtcaeInputError,
    LabGrade,
    grade_term,
    terms_for_analyte,
)
from hepatrial.core.safety.ctcae_bands import (
    Band,
    _dec,
    _num,
    _with_unit,
    default_range,
    grade_bands,
    number_text,
)
from hepatrial.core.safety.reference_ranges import DEFAULT_RANGES, ReferenceRange

__all__ = [
    "DEFAULT_RANGES",
    "Band",
    "Dose",
    "GradedPoint",
    "LabChart",
    "LabPoint",
    "ReferenceRange",
    "default_range",
    "grade_bands",
    "lab_chart",
    "number_text",
]


# --- points and the chart -------------------------------------------------------------------


@dataclass(frozen=True)
class LabPoint:
    """One value of the analyte.

    day           study day as a real number (days since day 0 00:00 site time; the
                  sample at 07:00 on day 7 is 7.29); negative before day 0.
    study_day     the whole study day (the sample's site-local date minus day 0).
    value         in the analyte's canonical unit.
    when          how the time is shown ("2026-03-08 07:00").
    baseline_ok   False for a value that may not serve as the baseline (a form not complete).
    """

    day: float
    study_day: int
    value: float
    when: str
    baseline_ok: bool = True


@dataclass(frozen=True)
class GradedPoint:
    point: LabPoint
    grade: LabGrade | None
    is_baseline: bool
    after_baseline: bool
    error: str = ""


@dataclass(frozen=True)
class Dose:
    """A dosing mark: a vertical line at ``day`` (study day, real) labelled ``label``."""

    day: float
    label: str


@dataclass(frozen=True)
class LabChart:
    analyte: str
    label: str
    unit: str
    term: str
    reference_range: ReferenceRange | None
    points: tuple[GradedPoint, ...]
    baseline: GradedPoint | None
    bands_before: tuple[Band, ...]
    bands_after: tuple[Band, ...]
    svg: str
    #: The highest grade after the baseline (the first such value), or None.
    worst: GradedPoint | None = None
    notes: tuple[str, ...] = field(default=())


WIDTH = 640
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 60, 40, 14, 42

#: Band fills by grade (ColorBrewer YlOrRd, light to dark); None: cannot be told.
BAND_FILL = {0: "#ffffff", 1: "#ffffcc", 2: "#fed976", 3: "#fd8d3c", 4: "#e31a1c", None: "#e0e0e0"}
BAND_OPACITY = {0: "0", 1: "0.6", 2: "0.55", 3: "0.45", 4: "0.35", None: "0.5"}


def _f(x: float) -> str:
    """A coordinate: one decimal, never '-0.0'."""
    return f"{round(x, 1) + 0.0:.1f}"


def _nice_step(span: float, target: int = 5) -> float:
    """A 1-2-2.5-5 x 10^k step giving about ``target`` intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _tick_text(v: float, step: float) -> str:
    """A tick label with as many decimals as the step has (0.25 -> 2, 25 -> 0)."""
    exponent = _dec(step).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{round(v, decimals) + 0.0:.{decimals}f}"


def _y_scale(values: list[float], thresholds: list[float]) -> tuple[float, float, float]:
    """(low, high, step) of the y axis: from 0, over every value, and up to the
    next grade threshold above the highest value when it is not far above it."""
    top = max(values) if values else 1.0
    above = sorted(t for t in thresholds if t > top)
    if above and above[0] <= 2.5 * max(top, 1e-9):
        top = above[0]
    top = top * 1.08 if top > 0 else 1.0
    step = _nice_step(top)
    return 0.0, math.ceil(top / step - 1e-9) * step, step


_DAY_STEPS = (1, 2, 7, 14, 28, 56, 84, 168, 336)


def _x_scale(days: list[float]) -> tuple[float, float, int]:
    lo, hi = min(days + [0.0]), max(days + [0.0])
    if hi - lo < 7:
        hi = lo + 7
    step = next((s for s in _DAY_STEPS if (hi - lo) / s <= 10), _DAY_STEPS[-1])
    lo = math.floor(lo / step) * step
    hi = math.ceil(hi / step) * step
    if hi == lo:
        hi = lo + step
    return float(lo), float(hi), step


def _grade_text(g: GradedPoint) -> str:
    if g.grade is None:
        return g.error or "not graded"
    if g.grade.grade is None:
        return f"grade not known: {g.grade.criterion}"
    return f"grade {g.grade.grade}: {g.grade.criterion}"


def _band_label(b: Band) -> str:
    return "G?" if b.grade is None else f"G{b.grade}"


def lab_chart(
    analyte: str,
    points: list[LabPoint] | tuple[LabPoint, ...],
    *,
    reference_range: ReferenceRange | None,
    doses: list[Dose] | tuple[Dose, ...] = (),
    on_anticoagulation: bool = False,
    title: str | None = None,
) -> LabChart:
    """The graded trajectory of ``analyte`` and its SVG plot.

    ``points`` are the subject's values (canonical unit) in any order.
    ``reference_range`` is the ULN/LLN in use for this subject: today the
    defaults of :data:`DEFAULT_RANGES` (:func:`default_range`); a per-site,
    per-sex range (the site laboratory's) is passed the same way. The baseline
    is the last value on or before day 0 (``study_day <= 0``) whose
    ``baseline_ok`` is set. ``doses`` are drawn as vertical lines. No points:
    ``svg`` is empty (the page says so in words); one point: a dot.
    """
    test = LAB_TESTS[analyte]
    (spec, *_others) = terms_for_analyte(analyte)
    unit = test.canonical_unit
    uln = reference_range.uln if reference_range else None
    lln = reference_range.lln if reference_range else None
    ordered = sorted(points, key=lambda p: (p.day, p.value))
    base_i = max((i for i, p in enumerate(ordered) if p.study_day <= 0 and p.baseline_ok), default=None)
    baseline = ordered[base_i].value if base_i is not None else None

    graded: list[GradedPoint] = []
    for i, p in enumerate(ordered):
        after = base_i is not None and i > base_i
        try:
            grade = grade_term(spec.term, p.value, uln=uln, lln=lln, baseline=baseline if after else None,
                               on_anticoagulation=on_anticoagulation)  # fmt: skip
            graded.append(GradedPoint(p, grade, i == base_i, after))
        except CtcaeInputError as err:
            graded.append(GradedPoint(p, None, i == base_i, after, f"not graded: {err.reason}"))

    try:
        before = grade_bands(analyte, uln=uln, lln=lln, baseline=None, on_anticoagulation=on_anticoagulation)
        after_bands = (
            grade_bands(analyte, uln=uln, lln=lln, baseline=baseline, on_anticoagulation=on_anticoagulation)
            if baseline is not None else before
        )
    except CtcaeInputError:
        before = after_bands = ()

    after_points = [g for g in graded if g.after_baseline and g.grade is not None and g.grade.grade is not None]
    worst = max(after_points, key=lambda g: g.grade.grade, default=None)  # max keeps the first of equals
    notes: list[str] = []
    if baseline is None and ordered:
        notes.append("No value on or before day 0: no baseline; every value is graded against the reference range.")
    if reference_range is None:
        notes.append("No reference range for this subject: the grades that need one are not known.")
    base = graded[base_i] if base_i is not None else None
    chart = LabChart(analyte, test.label, unit, spec.term, reference_range, tuple(graded), base, before, after_bands,
                     "", worst, tuple(notes))  # fmt: skip
    if not ordered:
        return chart
    svg = _svg(chart, list(doses), title or f"{test.label} ({_unit_text(unit)}) by study day, with CTCAE v5.0 grade bands")
    return replace(chart, svg=svg)


def _unit_text(unit: str) -> str:
    return "ratio" if unit == "ratio" else unit


def _bands_svg(bands: tuple[Band, ...], x0: float, x1: float, sy, y_lo: float, y_hi: float, note: str) -> list[str]:
    out = []
    for b in bands:
        low = y_lo if b.low is None else max(b.low, y_lo)
        high = y_hi if b.high is None else min(b.high, y_hi)
        if high <= low or b.grade == 0 or x1 <= x0:
            continue
        top, bottom = sy(high), sy(low)
        tip = f"{_band_label(b)} ({'cannot be told' if b.grade is None else 'grade ' + str(b.grade)}): {b.rule}{note}"
        out.append(
            f'<rect class="band g{b.grade if b.grade is not None else "x"}" x="{_f(x0)}" y="{_f(top)}" '
            f'width="{_f(x1 - x0)}" height="{_f(bottom - top)}" fill="{BAND_FILL[b.grade]}" '
            f'fill-opacity="{BAND_OPACITY[b.grade]}"><title>{escape(tip)}</title></rect>'
        )
    return out


def _band_labels(bands: tuple[Band, ...], x: float, sy, y_lo: float, y_hi: float) -> list[str]:
    out = []
    for b in bands:
        low = y_lo if b.low is None else max(b.low, y_lo)
        high = y_hi if b.high is None else min(b.high, y_hi)
        if high <= low or sy(low) - sy(high) < 9:
            continue
        out.append(f'<text x="{_f(x)}" y="{_f((sy(low) + sy(high)) / 2 + 4)}" font-size="10" fill="#444">'
                   f"{escape(_band_label(b))}</text>")  # fmt: skip
    return out


def _svg(chart: LabChart, doses: list[Dose], title: str) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [g.point.value for g in chart.points]
    thresholds = [t for b in chart.bands_before + chart.bands_after for t in (b.low, b.high) if t is not None and t > 0]
    y_lo, y_hi, y_step = _y_scale(values, thresholds)
    x_lo, x_hi, x_step = _x_scale([g.point.day for g in chart.points] + [d.day for d in doses])

    def sx(day: float) -> float:
        return LEFT + (day - x_lo) / (x_hi - x_lo) * plot_w

    def sy(value: float) -> float:
        return TOP + plot_h - (value - y_lo) / (y_hi - y_lo) * plot_h

    ident = f"lab-{chart.analyte}"
    unit = _unit_text(chart.unit)
    desc = f"{len(chart.points)} value(s) from study day {chart.points[0].point.study_day} to {chart.points[-1].point.study_day}."
    if chart.worst is not None:
        desc += f" Worst grade after baseline: {chart.worst.grade.grade} (day {chart.worst.point.study_day})."
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lab-chart" id="{escape(ident)}-svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{escape(ident)}-title {escape(ident)}-desc" '
        f'font-family="sans-serif">',
        f'<title id="{escape(ident)}-title">{escape(title)}</title>',
        f'<desc id="{escape(ident)}-desc">{escape(desc)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="none"/>',
    ]
    # bands: before (and at) the baseline against the reference range; after it as v5 says
    split = chart.baseline.point.day if chart.baseline is not None else None
    x_left, x_right = LEFT, LEFT + plot_w
    if split is None or chart.bands_after == chart.bands_before:
        out += _bands_svg(chart.bands_before, x_left, x_right, sy, y_lo, y_hi, "")
    else:
        xs = min(max(sx(split), x_left), x_right)
        out += _bands_svg(chart.bands_before, x_left, xs, sy, y_lo, y_hi, " (up to the baseline)")
        out += _bands_svg(chart.bands_after, xs, x_right, sy, y_lo, y_hi, " (after the baseline)")
    out += _band_labels(chart.bands_after, x_right + 4, sy, y_lo, y_hi)

    # axes, grid and ticks
    axis = ['<g class="axes" stroke="#333" stroke-width="1" fill="none">',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{_f(TOP + plot_h)}"/>',
            f'<line x1="{LEFT}" y1="{_f(TOP + plot_h)}" x2="{_f(LEFT + plot_w)}" y2="{_f(TOP + plot_h)}"/>',
            "</g>"]  # fmt: skip
    ticks = ['<g class="ticks" font-size="11" fill="#222">']
    n_y = round((y_hi - y_lo) / y_step)
    for k in range(n_y + 1):
        v = y_lo + k * y_step
        y = sy(v)
        ticks.append(f'<line x1="{LEFT - 4}" y1="{_f(y)}" x2="{LEFT}" y2="{_f(y)}" stroke="#333"/>')
        if 0 < k:
            ticks.append(f'<line x1="{LEFT}" y1="{_f(y)}" x2="{_f(LEFT + plot_w)}" y2="{_f(y)}" stroke="#999" '
                         f'stroke-opacity="0.35" stroke-width="0.5"/>')  # fmt: skip
        ticks.append(f'<text x="{LEFT - 6}" y="{_f(y + 4)}" text-anchor="end">{escape(_tick_text(v, y_step))}</text>')
    n_x = round((x_hi - x_lo) / x_step)
    for k in range(n_x + 1):
        d = x_lo + k * x_step
        x = sx(d)
        ticks.append(f'<line x1="{_f(x)}" y1="{_f(TOP + plot_h)}" x2="{_f(x)}" y2="{_f(TOP + plot_h + 4)}" stroke="#333"/>')
        ticks.append(f'<text x="{_f(x)}" y="{_f(TOP + plot_h + 16)}" text-anchor="middle">{int(d)}</text>')
    ticks.append(f'<text x="{_f(LEFT + plot_w / 2)}" y="{HEIGHT - 6}" text-anchor="middle">Study day</text>')
    ticks.append(f'<text x="14" y="{_f(TOP + plot_h / 2)}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {_f(TOP + plot_h / 2)})">{escape(unit)}</text>')  # fmt: skip
    ticks.append("</g>")
    out += axis + ticks

    # doses
    if doses:
        out.append('<g class="doses" stroke="#54278f" stroke-width="1.5" stroke-dasharray="4 3">')
        for d in sorted(doses, key=lambda d: (d.day, d.label)):
            x = sx(d.day)
            out.append(f'<line x1="{_f(x)}" y1="{TOP}" x2="{_f(x)}" y2="{_f(TOP + plot_h)}">'
                       f"<title>{escape(d.label)}</title></line>")  # fmt: skip
        out.append("</g>")

    # the trajectory
    coords = [(sx(g.point.day), sy(g.point.value)) for g in chart.points]
    if len(coords) > 1:
        path = " ".join(f"{_f(x)},{_f(y)}" for x, y in coords)
        out.append(f'<polyline class="trajectory" points="{path}" fill="none" stroke="#08519c" stroke-width="2"/>')
    out.append('<g class="points" fill="#08306b" stroke="#ffffff" stroke-width="1">')
    for g, (x, y) in zip(chart.points, coords, strict=True):
        p = g.point
        role = " (baseline)" if g.is_baseline else ""
        tip = f"Day {p.study_day}{role}, {p.when}: {_with_unit(_num(p.value), chart.unit)}; {_grade_text(g)}"
        out.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{5 if g.is_baseline else 4}"><title>{escape(tip)}</title></circle>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


# --- safety dashboard charts -----------------------------------------------------------------

#: Grade colours for adverse-event charts (grade 1 light to grade 5 dark).
GRADE_FILL = {1: "#fed976", 2: "#feb24c", 3: "#fd8d3c", 4: "#e31a1c", 5: "#67000d"}


def ae_grade_bars(rows: list[tuple[str, list[int]]], title: str = "Adverse events by arm and CTCAE grade") -> str:
    """Horizontal stacked bars: one bar per arm (label, counts of grades 1-5)."""
    if not rows:
        return ""
    bar_h, gap, left, top = 26, 12, 150, 28
    height = top + len(rows) * (bar_h + gap) + 40
    most = max(sum(counts) for _label, counts in rows) or 1
    step = max(1, math.ceil(_nice_step(most)))
    x_hi = step * math.ceil(most / step)
    plot_w = WIDTH - left - RIGHT

    def sx(n: float) -> float:
        return left + n / x_hi * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
             f'<title>{escape(title)}</title>']  # fmt: skip
    for i, (label, counts) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(f'<text x="{left - 8}" y="{_f(y + bar_h / 2 + 4)}" text-anchor="end">{escape(label)}</text>')
        x = 0
        for grade, n in enumerate(counts, start=1):
            if n:
                parts.append(f'<rect x="{_f(sx(x))}" y="{y}" width="{_f(sx(x + n) - sx(x))}" height="{bar_h}" '
                             f'fill="{GRADE_FILL[grade]}" stroke="#fff"><title>{escape(label)}: {n} grade {grade}</title></rect>')  # fmt: skip
                if sx(x + n) - sx(x) >= 16:
                    colour = "#fff" if grade >= 4 else "#000"
                    parts.append(f'<text x="{_f((sx(x) + sx(x + n)) / 2)}" y="{_f(y + bar_h / 2 + 4)}" text-anchor="middle" '
                                 f'fill="{colour}">{n}</text>')  # fmt: skip
            x += n
    axis_y = top + len(rows) * (bar_h + gap)
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{_f(left + plot_w)}" y2="{axis_y}" stroke="#333"/>')
    for v in range(0, x_hi + 1, step):
        parts.append(f'<text x="{_f(sx(v))}" y="{axis_y + 14}" text-anchor="middle">{v}</text>')
    legend_x = left
    for grade, fill in GRADE_FILL.items():
        parts.append(f'<rect x="{legend_x}" y="6" width="12" height="12" fill="{fill}"/>'
                     f'<text x="{legend_x + 16}" y="16">G{grade}</text>')  # fmt: skip
        legend_x += 50
    parts.append(f'<text x="{_f(left + plot_w / 2)}" y="{height - 6}" text-anchor="middle">Events</text>')
    parts.append("</svg>")
    return "".join(parts)


def sae_timeline(items: list[tuple[str, int, int | None, str, str]], title: str = "Serious adverse events by study day") -> str:
    """One row per subject; a marker per serious event at its study day of onset
    (colour: grade; outline: its report's state). ``items``: (subject id, study
    day, grade, term, state) with state pending / overdue / reported / reported_late."""
    if not items:
        return ""
    subjects = sorted({s for s, *_rest in items})
    row_h, top, left = 26, 20, 110
    height = top + len(subjects) * row_h + 40
    days = [d for _s, d, *_rest in items]
    lo, hi = min(0, min(days)), max(28, max(days))
    plot_w = WIDTH - left - RIGHT

    def sx(day: float) -> float:
        return left + (day - lo) / (hi - lo) * plot_w

    outline = {"pending": "#8a5a00", "overdue": "#a11", "reported": "#176b2c", "reported_late": "#a11"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
             f'<title>{escape(title)}</title>']  # fmt: skip
    for i, subject in enumerate(subjects):
        y = top + i * row_h + row_h / 2
        parts.append(f'<text x="{left - 8}" y="{_f(y + 4)}" text-anchor="end">{escape(subject)}</text>'
                     f'<line x1="{left}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" stroke="#ddd"/>')  # fmt: skip
    for subject, day, grade, term, state in sorted(items, key=lambda t: (t[0], t[1], t[3])):
        y = top + subjects.index(subject) * row_h + row_h / 2
        fill = GRADE_FILL.get(grade or 0, "#999")
        parts.append(f'<circle cx="{_f(sx(day))}" cy="{_f(y)}" r="7" fill="{fill}" stroke="{outline.get(state, "#333")}" '
                     f'stroke-width="3"><title>{escape(subject)}, day {day}: {escape(term)}, grade {grade} '
                     f'({escape(state.replace("_", " "))})</title></circle>')  # fmt: skip
    axis_y = top + len(subjects) * row_h
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{_f(left + plot_w)}" y2="{axis_y}" stroke="#333"/>')
    step = max(1, int(_nice_step(hi - lo)))
    for v in range(int(math.ceil(lo / step) * step), hi + 1, step):
        parts.append(f'<text x="{_f(sx(v))}" y="{axis_y + 14}" text-anchor="middle">{v}</text>')
    parts.append(f'<text x="{_f(left + plot_w / 2)}" y="{height - 6}" text-anchor="middle">Study day of onset</text>')
    parts.append("</svg>")
    return "".join(parts)
