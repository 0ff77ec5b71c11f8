"""The study infusions: which dose a visit gives, what may be recorded as a
dose, and the dosing calendar from day 0.

A protocol's ``dosing`` section names the form that records an infusion and the
product each arm receives; its dosing visits (``dose: true``) give the doses in
day order, dose 1 first. A dose's date is the date (in the site's time zone) on
which its infusion started; outside the visit's window it needs a protocol
deviation. Pure: the protocol, dates and recorded doses in, decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Literal

from hepatrial.core.protocol import DosingSpec, Protocol, VisitSpec
from hepatrial.core.schedule import (
    PlannedVisit,
    WindowStatus,
    planned_visit,
    window_status,
)

DoseStatus = Literal["upcoming", "due", "overdue", "given", "given_out_of_window", "not_given", "started", "stopped"]


@dataclass(frozen=True)
class RecordedDose:
    """What the dosing form of one dosing visit holds (``given`` None: not yet said)."""

    visit_id: str
    given: bool | None
    product: str | None
    start: datetime | None
    complete: bool = True


@dataclass(frozen=True)
class CalendarDose:
    """One dose on the subject's calendar."""

    number: int
    planned: PlannedVisit
    status: DoseStatus
    dose_date: date | None
    window: WindowStatus | None

    @property
    def visit_id(self) -> str:
        return self.planned.visit_id


@dataclass(frozen=True)
class DoseProblem:
    """Why a dose cannot be recorded as entered: ``field`` is the form field (or ``visit``)."""

    code: str
    field: str
    message: str


def dosing_spec(protocol: Protocol) -> DosingSpec:
    if protocol.dosing is None:
        raise ValueError(f"protocol {protocol.id} has no dosing section")
    return protocol.dosing


def dosing_visits(protocol: Protocol) -> list[VisitSpec]:
    """The dosing visits, in day order: dose 1 is the first."""
    return sorted((v for v in protocol.visits if v.dose), key=lambda v: v.day or 0)


def dose_number(protocol: Protocol, visit_id: str) -> int | None:
    """Which dose ``visit_id`` gives (1-based), or None if it gives none."""
    for number, visit in enumerate(dosing_visits(protocol), start=1):
        if visit.id == visit_id:
            return number
    return None


def dose_date(start: datetime | None, tz: tzinfo) -> date | None:
    """The date, at the site, on which an infusion started."""
    return None if start is None else start.astimezone(tz).date()


def product_label(protocol: Protocol, product: str | None) -> str:
    spec = dosing_spec(protocol)
    field = protocol.form(spec.form).field(spec.product_field)
    return next((c.label for c in field.choices or [] if c.value == product), str(product))


def dose_problems(
    protocol: Protocol,
    *,
    arm: str | None,
    anchor_date: date | None,
    visit_id: str,
    values: dict[str, Any],
    recorded: dict[str, RecordedDose],
    tz: tzinfo,
    randomized_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[list[DoseProblem], WindowStatus | None]:
    """What stops ``values`` (the cleaned dosing form of ``visit_id``) from being
    recorded, and the dose's window status (None when no infusion or no date).

    ``recorded`` maps the subject's other dosing visits to what they hold;
    ``randomized_at`` is the moment of randomization and ``now`` the present (an
    infusion cannot start before the one or after the other). An out-of-window
    dose is not a problem here: the caller asks for a deviation.
    """
    spec = dosing_spec(protocol)
    visits = dosing_visits(protocol)
    number = dose_number(protocol, visit_id)
    if arm is None or anchor_date is None:
        return [DoseProblem("not_randomized", "visit", "The subject is not randomized: no dose can be recorded before randomization.")], None
    if number is None:
        given = sum(1 for r in recorded.values() if r.given)
        extra = f"{given} of {len(visits)} doses are recorded as given" + (
            f": a dose here would be dose {given + 1} of a {len(visits)}-dose regimen" if given >= len(visits) else ""
        )
        return [DoseProblem(
            "not_a_dosing_visit", "visit",
            f"Doses are given only at the {len(visits)} dosing visits ({', '.join(v.label for v in visits)}); {extra}. Refused.",
        )], None  # fmt: skip
    if values.get(spec.given_field) is not True:
        return [], None
    problems: list[DoseProblem] = []
    expected = spec.products.get(arm)
    product = values.get(spec.product_field)
    if product is not None and expected is not None and product != expected:
        problems.append(DoseProblem(
            "wrong_product", spec.product_field,
            f"This subject is in the {protocol.arm(arm).label} arm, which receives {product_label(protocol, expected)}: "
            f"{product_label(protocol, product)} cannot be recorded.",
        ))  # fmt: skip
    for earlier in visits[: number - 1]:
        if earlier.id not in recorded:
            problems.append(DoseProblem(
                "earlier_dose_missing", "visit",
                f"Dose {visits.index(earlier) + 1} ({earlier.label}) is not recorded yet: record it first (as given or not given).",
            ))  # fmt: skip
            break
    start = values.get(spec.start_field)
    when = dose_date(start, tz)
    if when is None:
        return problems, None

    def given_on(vs: list[VisitSpec]) -> list[tuple[int, date]]:
        out = []
        for v in vs:
            dose = recorded.get(v.id)
            on = dose_date(dose.start, tz) if dose is not None and dose.given else None
            if on is not None:
                out.append((visits.index(v) + 1, on))
        return out

    before, after = given_on(visits[: number - 1]), given_on(visits[number:])
    if before and when <= max(d for _n, d in before):
        n, d = max(before, key=lambda t: t[1])
        problems.append(DoseProblem(
            "not_after_previous_dose", spec.start_field,
            f"The infusion starts on {when.isoformat()}, not after dose {n} ({d.isoformat()}).",
        ))  # fmt: skip
    if after and when >= min(d for _n, d in after):
        n, d = min(after, key=lambda t: t[1])
        problems.append(DoseProblem(
            "not_before_next_dose", spec.start_field,
            f"The infusion starts on {when.isoformat()}, not before dose {n} ({d.isoformat()}): doses keep their order.",
        ))  # fmt: skip
    if when < anchor_date or (randomized_at is not None and start < randomized_at):
        since = randomized_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if randomized_at is not None else anchor_date.isoformat()
        problems.append(DoseProblem(
            "before_randomization", spec.start_field,
            f"The infusion starts at {start.astimezone(tz).strftime('%Y-%m-%d %H:%M')}, before randomization ({since}).",
        ))  # fmt: skip
    if now is not None and start > now:
        problems.append(DoseProblem("in_the_future", spec.start_field, "The infusion start is in the future."))
    return problems, window_status(planned_visit(protocol, visit_id, anchor_date), when)


def dose_calendar(
    protocol: Protocol, anchor_date: date, recorded: dict[str, RecordedDose], today: date, tz: tzinfo,
    stopped_on: date | None = None,
) -> list[CalendarDose]:
    """Every dose of the protocol from day 0 ``anchor_date``: planned window, and
    given / given out of window / not given / started, or upcoming / due / overdue
    as of ``today``; a dose not recorded whose target is on or after ``stopped_on``
    (consent withdrawn) is stopped."""
    calendar = []
    for number, visit in enumerate(dosing_visits(protocol), start=1):
        planned = planned_visit(protocol, visit.id, anchor_date)
        dose = recorded.get(visit.id)
        when = dose_date(dose.start, tz) if dose else None
        window = window_status(planned, when) if when else None
        status: DoseStatus
        if dose is not None and dose.given is False:
            status = "not_given"
        elif dose is not None and dose.given and dose.complete:
            status = "given" if window in (None, "on_time") else "given_out_of_window"
        elif dose is not None:
            status = "started"
        elif stopped_on is not None and planned.target >= stopped_on:
            status = "stopped"
        elif today < planned.earliest:
            status = "upcoming"
        elif today <= planned.latest:
            status = "due"
        else:
            status = "overdue"
        calendar.append(CalendarDose(number, planned, status, when, window))
    return calendar
