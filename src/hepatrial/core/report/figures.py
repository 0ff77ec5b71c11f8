"""The report's figures as SVG text: Kaplan-Meier curves with numbers at risk, and
lab trajectories (each subject's line, and the arm's mean with its 95% CI).
Pure and deterministic; every text escaped."""

from __future__ import annotations

import math
import statistics
from html import escape

from scipy import stats

COLOURS = ["#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad"]
WIDTH, LEFT, RIGHT = 640, 70, 20


def _f(x: float) -> str:
    return f"{round(x, 1) + 0.0:.1f}"


def _legend(names: list[str], x: float, y: float) -> str:
    """One row of coloured line keys above the plot, where no curve can run under them."""
    parts = []
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<line x1="{_f(x)}" y1="{_f(y - 4)}" x2="{_f(x + 18)}" y2="{_f(y - 4)}" stroke="{colour}" stroke-width="3"/>'
                     f'<text x="{_f(x + 22)}" y="{_f(y)}" fill="{colour}">{escape(name)}</text>')  # fmt: skip
        x += 22 + 7 * len(name) + 18
    return "".join(parts)


def km_svg(curves: list[dict], horizon: float, title: str, ticks: list[float]) -> str:
    """``curves``: per arm {"arm", "times", "survival" (step values after each time), "censored" (times),
    "at_risk" (numbers at ``ticks``)}; survival from 1 at day 0 down to ``horizon``."""
    top, plot_h, risk_h = 24, 220, 22 * (len(curves) + 1)
    height = top + plot_h + 40 + risk_h
    plot_w = WIDTH - LEFT - RIGHT

    def sx(day: float) -> float:
        return LEFT + min(day, horizon) / horizon * plot_w

    def sy(s: float) -> float:
        return top + (1 - s) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12"><title>{escape(title)}</title>']  # fmt: skip
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{LEFT}" y1="{_f(sy(v))}" x2="{LEFT + plot_w}" y2="{_f(sy(v))}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 6}" y="{_f(sy(v) + 4)}" text-anchor="end">{v:g}</text>')  # fmt: skip
    yearly = len(ticks) > 1 and ticks[1] > 300
    for i, t in enumerate(ticks):
        label = f"{i}" if yearly else f"{t:g}"
        parts.append(f'<text x="{_f(sx(t))}" y="{top + plot_h + 16}" text-anchor="middle">{label}</text>')
    axis = "Years since randomization" if yearly else "Days since randomization"
    parts.append(f'<text x="{_f(LEFT + plot_w / 2)}" y="{top + plot_h + 32}" text-anchor="middle">{axis}</text>')
    parts.append(f'<text x="14" y="{_f(top + plot_h / 2)}" transform="rotate(-90 14 {_f(top + plot_h / 2)})" '
                 'text-anchor="middle">Probability event-free</text>')  # fmt: skip
    for i, c in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        points, s = [(0.0, 1.0)], 1.0
        for t, value in zip(c["times"], c["survival"]):
            if t > horizon:
                break
            points += [(t, s), (t, value)]
            s = value
        points.append((min(horizon, c.get("end", horizon)), s))  # the curve stops at the arm's last follow-up
        path = " ".join(f"{'M' if j == 0 else 'L'}{_f(sx(x))},{_f(sy(y))}" for j, (x, y) in enumerate(points))
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"><title>{escape(c["arm"])}</title></path>')
        for t in c["censored"]:
            if t <= horizon:
                y = sy(_step_at(c["times"], c["survival"], t))
                parts.append(f'<line x1="{_f(sx(t))}" y1="{_f(y - 4)}" x2="{_f(sx(t))}" y2="{_f(y + 4)}" stroke="{colour}"/>')
    parts.append(_legend([c["arm"] for c in curves], LEFT, 12))
    y0 = top + plot_h + 52
    parts.append(f'<text x="4" y="{y0}" font-weight="bold">Number at risk</text>')
    for i, c in enumerate(curves):
        y = y0 + 18 * (i + 1)
        name = c["arm"] if len(c["arm"]) <= 11 else c["arm"][:9] + "..."
        parts.append(f'<text x="4" y="{y}" font-size="9" fill="{COLOURS[i % len(COLOURS)]}">{escape(name)}</text>')
        for t, n in zip(ticks, c["at_risk"]):
            parts.append(f'<text x="{_f(sx(t))}" y="{y}" text-anchor="middle">{int(n)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _step_at(times: list[float], survival: list[float], t: float) -> float:
    s = 1.0
    for ti, si in zip(times, survival):
        if ti > t:
            break
        s = si
    return s


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float] | None:
    """Mean and its t-based CI (None with no value; the CI is the mean itself with one)."""
    if not values:
        return None
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, m, m
    half = float(stats.t.ppf(1 - (1 - level) / 2, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def log_ticks(lo: float, hi: float) -> list[float]:
    """Round values for a log axis from ``lo`` to ``hi`` (> 0): 1, 2 and 5 times the powers of ten
    inside the range, or, when that gives fewer than three, 1, 1.5, 2, 3, 5 and 7 times them, or
    for a narrow range evenly stepped round values."""
    if not 0 < lo < hi:
        raise ValueError(f"log axis limits must satisfy 0 < lo < hi, got {lo!r}, {hi!r}")
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in mantissas]
        ticks = [round(t, 10) for t in ticks if lo <= t <= hi]
        if len(ticks) >= 3:
            return ticks
    return linear_ticks(lo, hi)  # a narrow range (e.g. INR 1.9-2.6): evenly stepped round values


def linear_ticks(lo: float, hi: float) -> list[float]:
    """Evenly stepped round values from ``lo`` to ``hi``: 1, 2 or 5 times a power of ten apart,
    the widest step that gives at least 3 ticks (so at most about 10)."""
    if not lo < hi:
        raise ValueError(f"axis limits must satisfy lo < hi, got {lo!r}, {hi!r}")
    for e in range(math.floor(math.log10(hi - lo)), math.floor(math.log10(hi - lo)) - 3, -1):
        for m in (5, 2, 1):
            step = m * 10.0**e
            ticks = [round(k * step, 10) for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
            if len(ticks) >= 3:
                return ticks
    return [lo, hi]


def trajectory_svg(series: dict[str, dict[str, list[tuple[float, float]]]], title: str, unit: str, log: bool = False) -> str:
    """``series``: arm -> subject -> [(study day, value)]. Thin lines per subject (spaghetti),
    thick line with 95% CI bars for the arm's mean at each day with data."""
    top, plot_h = 24, 220
    height = top + plot_h + 44
    plot_w = WIDTH - LEFT - RIGHT
    points = [(d, v) for subjects in series.values() for pts in subjects.values() for d, v in pts]
    if not points:
        return ""
    tr = (lambda v: math.log(v)) if log else (lambda v: v)  # noqa: E731
    days = [d for d, _v in points]
    values = [tr(v) for _d, v in points if not log or v > 0]
    d_lo, d_hi = min(min(days), 0), max(max(days), 1)
    v_lo, v_hi = min(values), max(values)
    if v_hi == v_lo:
        v_lo, v_hi = v_lo - 1, v_hi + 1
    pad = (v_hi - v_lo) * 0.08
    v_lo, v_hi = v_lo - pad, v_hi + pad

    def sx(d: float) -> float:
        return LEFT + (d - d_lo) / (d_hi - d_lo) * plot_w

    def sy(v: float) -> float:
        return top + (1 - (tr(v) - v_lo) / (v_hi - v_lo)) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12"><title>{escape(title)}</title>']  # fmt: skip
    ticks = log_ticks(math.exp(v_lo), math.exp(v_hi)) if log else linear_ticks(v_lo, v_hi)
    for label in ticks:
        y = top + (1 - ((math.log(label) if log else label) - v_lo) / (v_hi - v_lo)) * plot_h
        parts.append(f'<line x1="{LEFT}" y1="{_f(y)}" x2="{LEFT + plot_w}" y2="{_f(y)}" stroke="#eee"/>'
                     f'<text x="{LEFT - 6}" y="{_f(y + 4)}" text-anchor="end">{label:.3g}</text>')  # fmt: skip
    parts.append(f'<text x="{_f(LEFT + plot_w / 2)}" y="{height - 8}" text-anchor="middle">Study day (values in {escape(unit)}{", log scale" if log else ""})</text>')
    span = d_hi - d_lo
    step = 28 if span <= 200 else 365.25
    k = math.ceil(d_lo / step)
    while k * step <= d_hi:
        d = k * step
        label = f"{d:g}" if step == 28 else f"{k} y"
        parts.append(f'<text x="{_f(sx(d))}" y="{top + plot_h + 16}" text-anchor="middle">{label}</text>')
        k += 1
    for i, (arm, subjects) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        for sid, pts in sorted(subjects.items()):
            pts = sorted(p for p in pts if not log or p[1] > 0)
            if len(pts) > 1:
                path = " ".join(f"{'M' if j == 0 else 'L'}{_f(sx(d))},{_f(sy(v))}" for j, (d, v) in enumerate(pts))
                parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-opacity="0.3"><title>{escape(sid)}</title></path>')
        # the mean by visit: days binned to the week (a 24-week trial) or the year (a long one, e.g. PBC)
        width = 7.0 if d_hi - d_lo <= 200 else 365.25
        by_day: dict[float, list[float]] = {}
        for pts in subjects.values():
            for d, v in pts:
                if not log or v > 0:
                    by_day.setdefault(round(d / width) * width, []).append(tr(v))
        means = []
        for d in sorted(by_day):
            if len(by_day[d]) < 3:
                continue  # no mean and no interval from one or two values (the thin lines still show them)
            m, lo, hi = mean_ci(by_day[d])
            means.append((d, m))
            parts.append(f'<line x1="{_f(sx(d))}" y1="{_f(top + (1 - (lo - v_lo) / (v_hi - v_lo)) * plot_h)}" x2="{_f(sx(d))}" '
                         f'y2="{_f(top + (1 - (hi - v_lo) / (v_hi - v_lo)) * plot_h)}" stroke="{colour}" stroke-width="2">'
                         f'<title>{escape(arm)}, day {d:g}: mean {(math.exp(m) if log else m):.3g}, n={len(by_day[d])}</title></line>')  # fmt: skip
        if means:
            path = " ".join(f"{'M' if j == 0 else 'L'}{_f(sx(d))},{_f(top + (1 - (m - v_lo) / (v_hi - v_lo)) * plot_h)}"
                            for j, (d, m) in enumerate(means))  # fmt: skip
            parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="3"/>')

    parts.append(_legend(sorted(series), LEFT, 12))
    parts.append("</svg>")
    return "".join(parts)
