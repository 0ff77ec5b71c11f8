"""One subject's lab trajectories with the CTCAE v5.0 grade bands (issue #5).

Reads every saved lab panel of the subject (the protocol form ``lab_panel``),
places each value at its study day (the sample's time since day 0, 00:00 site
time; screening samples fall before day 0), marks the doses given, and draws
one SVG per analyte with :mod:`hepatrial.web.trial.charts`. Read-only: any
role may look, within the sites the user sees.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from hepatrial.core.labs import LAB_TESTS, LabError, to_canonical
from hepatrial.core.protocol import Protocol
from hepatrial.services.access import Actor
from hepatrial.services.lab_safety import LAB_FORM
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.charts import (
    DEFAULT_RANGES,
    Dose,
    GradedPoint,
    LabChart,
    LabPoint,
    ReferenceRange,
    default_range,
    lab_chart,
    number_text,
)
from hepatrial.web.trial.models import FormEntry, Subject
from hepatrial.web.trial.models import ReferenceRange as SiteRange
from hepatrial.web.trial.views import _subject_or_404

#: The protocol form holding one blood sample's results, and its sample time field.
SAMPLE_FIELD = "sample_datetime"

#: Always plotted (a sentence when the subject has no value); then these, when present.
PRIMARY = ("total_bilirubin", "inr", "creatinine", "platelets")
SECONDARY = ("alt", "ast", "albumin", "alkaline_phosphatase")


def _parse_datetime(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _place(when: datetime | None, visit_date: date | None, day0: date, tz: ZoneInfo) -> tuple[float, int, str] | None:
    """(study day as a real number, whole study day, how it is shown) of a time,
    else of a visit date (at 00:00), else None."""
    origin = datetime.combine(day0, time(0, 0), tz)
    if when is not None:
        local = when.astimezone(tz)
        return (local - origin).total_seconds() / 86400, (local.date() - day0).days, local.strftime("%Y-%m-%d %H:%M %Z")
    if visit_date is not None:
        return float((visit_date - day0).days), (visit_date - day0).days, f"{visit_date.isoformat()} ({_('visit date')})"
    return None


def lab_points(subject: Subject, protocol: Protocol) -> tuple[dict[str, list[LabPoint]], date | None, list[str]]:
    """Every value of every analyte of the subject's lab panels (canonical unit),
    the day 0 used, and notes on what could not be placed."""
    tz = ZoneInfo(subject.site.time_zone)
    try:
        spec = protocol.form(LAB_FORM)
    except KeyError:
        return {}, subject.anchor_date, [_("The protocol has no lab panel form.")]
    fields = [f for f in spec.fields if f.lab_test in LAB_TESTS]
    entries = list(subject.forms.filter(form_id=LAB_FORM).order_by("visit_date", "visit_id", "sequence"))
    notes: list[str] = []
    day0 = subject.anchor_date
    if day0 is None:
        dates = [w.astimezone(tz).date() for e in entries if (w := _parse_datetime(e.data.get(SAMPLE_FIELD)))]
        dates += [e.visit_date for e in entries if e.visit_date and not _parse_datetime(e.data.get(SAMPLE_FIELD))]
        if dates:
            day0 = min(dates)
            notes.append(_("The subject has no day 0 yet: days are counted from the first sample (%(d)s).") % {"d": day0.isoformat()})
    out: dict[str, list[LabPoint]] = {}
    for entry in entries:
        placed = _place(_parse_datetime(entry.data.get(SAMPLE_FIELD)), entry.visit_date, day0, tz) if day0 else None
        complete = entry.status == FormEntry.Status.COMPLETE
        for f in fields:
            value = _number(entry.data.get(f.id))
            if value is None:
                continue
            if placed is None:
                notes.append(_("%(f)s of %(v)s has no sample time or visit date: not plotted.") % {"f": f.label, "v": entry.visit_id})
                continue
            try:
                canonical = to_canonical(f.lab_test, value, f.canonical_unit)
            except LabError:
                continue
            day, study_day, when = placed
            label = when if complete else f"{when} ({_('form not complete')})"
            out.setdefault(f.lab_test, []).append(LabPoint(day, study_day, canonical, label, baseline_ok=complete))
    return out, day0, notes


def dose_marks(subject: Subject, protocol: Protocol, day0: date | None) -> list[Dose]:
    """A mark for each dose recorded as given, at its infusion start (else its visit date)."""
    spec = protocol.dosing
    if spec is None or day0 is None:
        return []
    tz = ZoneInfo(subject.site.time_zone)
    marks = []
    for entry in subject.forms.filter(form_id=spec.form):
        if entry.data.get(spec.given_field) not in (True, "yes"):
            continue
        placed = _place(_parse_datetime(entry.data.get(spec.start_field)), entry.visit_date, day0, tz)
        if placed is None:
            continue
        day, study_day, when = placed
        try:
            visit = protocol.visit(entry.visit_id).label
        except KeyError:
            visit = entry.visit_id
        marks.append(Dose(day, _("Dose given: %(v)s, study day %(d)s, started %(w)s") % {"v": visit, "d": study_day, "w": when}))
    return marks


def _range_text(ref: ReferenceRange | None, unit: str) -> str:
    """"LLN 59 umol/L, ULN 104 umol/L" (empty when the range has neither limit)."""
    if ref is None:
        return ""
    parts = [f"{name} {number_text(v)} {unit}".strip() for name, v in (("LLN", ref.lln), ("ULN", ref.uln)) if v is not None]
    return ", ".join(parts)


def _row(g: GradedPoint, unit: str) -> dict:
    """One value as the tables show it."""
    if g.grade is None:
        grade, how = None, g.error
    else:
        grade, how = g.grade.grade, g.grade.criterion
    return {"study_day": g.point.study_day, "when": g.point.when, "value": f"{number_text(g.point.value)} {unit}".strip(),
            "grade": grade, "how": how, "baseline": g.is_baseline, "after": g.after_baseline}  # fmt: skip


def subject_charts(subject: Subject, protocol: Protocol) -> dict:
    points, day0, notes = lab_points(subject, protocol)
    doses = dose_marks(subject, protocol, day0)
    # the site laboratory's own ranges (Reference ranges page), as the AE proposals use them; INR needs none
    table = {key: r for key, r in DEFAULT_RANGES.items() if key[0] == "inr"}
    for stored in SiteRange.objects.filter(site=subject.site):
        table[(stored.lab_test, stored.sex)] = ReferenceRange(stored.lln, stored.uln, stored.source)
    if len(table) <= 1:
        notes = [*notes, "This site has no laboratory reference ranges yet: only INR can be graded "
                         "(data managers set them on the Reference ranges page)."]
    sex = subject.screening.sex or None
    charts: list[dict] = []
    for analyte in PRIMARY + SECONDARY:
        values = points.get(analyte, [])
        if not values and analyte in SECONDARY:
            continue
        ref = default_range(analyte, sex, table)
        chart: LabChart = lab_chart(analyte, values, reference_range=ref, doses=doses)
        unit = "" if chart.unit == "ratio" else chart.unit
        charts.append({
            "chart": chart, "svg": mark_safe(chart.svg),  # charts.py escapes every text it writes
            "unit": unit, "rows": [_row(g, unit) for g in chart.points], "range": _range_text(ref, unit),
            "baseline": _row(chart.baseline, unit) if chart.baseline else None,
            "worst": _row(chart.worst, unit) if chart.worst else None,
        })  # fmt: skip
    return {"charts": charts, "day0": day0, "notes": notes, "doses": doses, "has_labs": bool(points), "sex": sex}


@login_required
def safety_labs(request, subject_id: str):
    """The subject's lab trajectories with the CTCAE v5.0 grade bands (404 outside the user's sites)."""
    subject = _subject_or_404(Actor(request.user, route="web"), subject_id)
    context = {"subject": subject, "site": subject.site, **subject_charts(subject, current_protocol())}
    return render(request, "trial/safety_labs.html", context)
