"""The visit schedule from an anchor date: target days, windows, dosing visits.

The anchor is day 0 (randomization in NCT05940610). A scheduled visit of day
``d`` with window ``-b/+a`` is due on ``anchor + d`` days and on time from
``anchor + d - b`` to ``anchor + d + a``, both inclusive. Screening and
unscheduled visits have no day and no window. Pure: dates in, dates out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from hepatrial.core.protocol import Protocol, VisitSpec

WindowStatus = Literal["early", "on_time", "late"]


class ScheduleError(ValueError):
    """A visit that is unknown or has no window (screening, unscheduled)."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class PlannedVisit:
    """A scheduled visit placed on the calendar."""

    visit_id: str
    label: str
    kind: str
    day: int
    target: date
    earliest: date
    latest: date
    dose: bool
    forms: tuple[str, ...]


def _scheduled(protocol: Protocol, visit_id: str) -> VisitSpec:
    try:
        visit = protocol.visit(visit_id)
    except KeyError:
        known = ", ".join(v.id for v in protocol.visits)
        raise ScheduleError("visit", f"unknown visit {visit_id!r}; known: {known}") from None
    if visit.kind != "scheduled" or visit.day is None:
        raise ScheduleError("visit", f"{visit.label} ({visit.id}) is a {visit.kind} visit: it has no day and no window")
    return visit


def _plan(visit: VisitSpec, anchor_date: date) -> PlannedVisit:
    assert visit.day is not None
    target = anchor_date + timedelta(days=visit.day)
    return PlannedVisit(
        visit_id=visit.id,
        label=visit.label,
        kind=visit.kind,
        day=visit.day,
        target=target,
        earliest=target - timedelta(days=visit.window_before_days),
        latest=target + timedelta(days=visit.window_after_days),
        dose=visit.dose,
        forms=tuple(visit.forms),
    )


def planned_visits(protocol: Protocol, anchor_date: date) -> list[PlannedVisit]:
    """Every scheduled visit of ``protocol`` on the calendar from ``anchor_date`` (day 0), by day."""
    scheduled = [v for v in protocol.visits if v.kind == "scheduled"]
    return [_plan(v, anchor_date) for v in sorted(scheduled, key=lambda v: v.day or 0)]


def planned_visit(protocol: Protocol, visit_id: str, anchor_date: date) -> PlannedVisit:
    """One scheduled visit on the calendar; :class:`ScheduleError` for an unknown or unscheduled one."""
    return _plan(_scheduled(protocol, visit_id), anchor_date)


def visit_window(protocol: Protocol, visit_id: str, anchor_date: date) -> tuple[date, date, date]:
    """(earliest, target, latest) dates of scheduled visit ``visit_id``, all inclusive."""
    planned = planned_visit(protocol, visit_id, anchor_date)
    return planned.earliest, planned.target, planned.latest


def window_status(planned: PlannedVisit, actual: date) -> WindowStatus:
    """Whether a visit held on ``actual`` is early, on time (within the window, edges included) or late."""
    if actual < planned.earliest:
        return "early"
    if actual > planned.latest:
        return "late"
    return "on_time"


def day_window_status(visit: VisitSpec, visit_day: int) -> WindowStatus:
    """:func:`window_status` from days since the anchor rather than dates."""
    if visit.kind != "scheduled" or visit.day is None:
        raise ScheduleError("visit", f"{visit.label} ({visit.id}) is a {visit.kind} visit: it has no window")
    if visit_day < visit.day - visit.window_before_days:
        return "early"
    if visit_day > visit.day + visit.window_after_days:
        return "late"
    return "on_time"


def study_day(anchor_date: date, on: date) -> int:
    """Days from the anchor (day 0) to ``on``: negative before it (no day-1 convention: day 0 exists)."""
    return (on - anchor_date).days


def dosing_days(protocol: Protocol) -> list[int]:
    """The days (from the anchor) of the dosing visits, in order.

    The loader checks that they are exactly ``parameters.dosing_days`` (and the
    interventions' schedules), so this is the regimen as the schedule gives it.
    """
    return sorted(v.day for v in protocol.visits if v.dose and v.day is not None)
