"""Study infusions and protocol deviations.

A dose is the protocol's dosing form at a dosing visit, saved through
:func:`hepatrial.services.forms.do_save_form` (edit checks, reasons for change,
queries and audit as for any form), which asks this module first: no dose
before randomization, none at a visit that gives no dose (a fifth dose), none
of another product than the arm's, none before the doses it follows; a dose
outside its window is saved only with a protocol deviation, reported in the
same transaction and linked to the dosing form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.dosing import (
    CalendarDose,
    DoseProblem,
    RecordedDose,
    dose_calendar,
    dose_number,
    dose_problems,
)
from hepatrial.core.forms import stored_datetime
from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.enrollment import treatment_stopped_since
from hepatrial.services.errors import Invalid
from hepatrial.services.protocol import current_protocol
from hepatrial.services.safety import dosing_halt, halt_message, safety_lock
from hepatrial.web.trial.models import AllocationSlot, Deviation, FormEntry, Subject

MAX_TEXT = 4000


@dataclass(frozen=True)
class DeviationInput:
    """A deviation given with an out-of-window dose: what happened and what was done."""

    description: str
    action: str


def dosing_form_id() -> str | None:
    spec = current_protocol().dosing
    return spec.form if spec else None


def is_dosing_form(form_id: str) -> bool:
    return form_id == dosing_form_id()


def dose_initial(subject: Subject) -> dict[str, str]:
    """A new dosing form's values filled in: the product of the subject's arm (open label, as allocated)."""
    dosing = current_protocol().dosing
    arm = subject_arm(subject)
    return {dosing.product_field: dosing.products[arm]} if dosing is not None and arm in dosing.products else {}


def subject_arm(subject: Subject) -> str | None:
    return AllocationSlot.objects.filter(subject=subject).values_list("arm", flat=True).first()


def recorded_doses(subject: Subject, *, excluding: str | None = None, entries: list[FormEntry] | None = None,
                   ) -> dict[str, RecordedDose]:  # fmt: skip
    """The subject's dosing forms by visit id (``excluding`` one visit); ``entries``: all the
    subject's forms, when the caller has them already."""
    spec = current_protocol().dosing
    if spec is None:
        return {}
    out = {}
    doses = (subject.forms.filter(form_id=spec.form) if entries is None
             else [e for e in entries if e.form_id == spec.form])  # fmt: skip
    for entry in doses:
        if entry.visit_id == (excluding or ""):
            continue
        out[entry.visit_id] = RecordedDose(
            visit_id=entry.visit_id,
            given=entry.data.get(spec.given_field),
            product=entry.data.get(spec.product_field),
            start=stored_datetime(entry.data.get(spec.start_field)),
            complete=entry.status == FormEntry.Status.COMPLETE,
        )
    return out


def refuse_dose_at(subject: Subject, visit_id: str) -> None:
    """Refuse a dosing form before randomization or at a visit that gives no dose."""
    protocol = current_protocol()
    arm = subject_arm(subject)
    if arm is None or dose_number(protocol, visit_id) is None:
        problems, _window = dose_problems(
            protocol, arm=arm, anchor_date=subject.anchor_date if arm else None, visit_id=visit_id, values={},
            recorded=recorded_doses(subject), tz=ZoneInfo(subject.site.time_zone),
        )  # fmt: skip
        raise Invalid(problems[0].message, field="visit")


@dataclass(frozen=True)
class DoseCheck:
    """A dose that may be saved: ``deviation_date`` is set when a new deviation is to
    be reported with it; ``covered_by`` is the deviation's text when one (new or
    reported earlier) covers the dose being out of its window."""

    deviation_date: date | None = None
    covered_by: str | None = None


def check_dose(subject: Subject, visit_id: str, cleaned: dict, entry: FormEntry | None, deviation: DeviationInput | None) -> DoseCheck:
    """Refuse a dose that cannot be recorded; when it is outside its window and no
    deviation covers it, ask for one (the caller reports it after saving the form)."""
    protocol = current_protocol()
    tz = ZoneInfo(subject.site.time_zone)
    # one dose save of a subject at a time: the order and withdrawal checks read the other doses
    Subject.objects.select_for_update(no_key=True).filter(pk=subject.pk).first()
    allocation = AllocationSlot.objects.filter(subject=subject).values_list("arm", "allocated_at").first()
    arm, randomized_at = allocation if allocation else (None, None)
    problems, window = dose_problems(
        protocol, arm=arm, anchor_date=subject.anchor_date, visit_id=visit_id, values=cleaned,
        recorded=recorded_doses(subject, excluding=visit_id), tz=tz, randomized_at=randomized_at, now=timezone.now(),
    )  # fmt: skip
    given = cleaned.get(protocol.dosing.given_field) is True
    start = cleaned.get(protocol.dosing.start_field)

    def at_or_after(moment) -> bool:  # a dose given before ``moment`` (entered late, or corrected) is still recorded
        return given and moment is not None and (start is None or start >= moment)

    if given:
        safety_lock()  # no dose slips past a trip being made by another save
    halt = dosing_halt() if given else None
    if at_or_after(halt.tripped_at if halt else None):
        problems.append(DoseProblem("dosing_halted", "visit", halt_message(halt)))
    stopped = treatment_stopped_since(subject.screening)
    if at_or_after(stopped):
        problems.append(DoseProblem(
            "consent_withdrawn", protocol.dosing.start_field,
            _("Consent was withdrawn on %(d)s: no study infusion after it.") % {"d": stopped.astimezone(tz).strftime("%Y-%m-%d %H:%M")},
        ))  # fmt: skip
    if problems:
        errors: dict[str, list[str]] = {}
        for p in problems:
            errors.setdefault(p.field, []).append(p.message)
        raise Invalid(problems[0].message, errors=errors)
    when = start.astimezone(tz).date() if start is not None else None
    # a deviation reported for this dose on this very date covers it (a correction of, say, the lot);
    # a dose moved to another date outside its window needs its own deviation
    earlier = (entry.deviations.filter(type=Deviation.Type.DOSE_WINDOW, occurred_on=when).first()
               if entry is not None and when is not None else None)  # fmt: skip
    if window in (None, "on_time") or earlier is not None:
        if deviation is not None:
            raise Invalid(_("This dose is within its window (or its deviation is already reported): no deviation is needed."), field="deviation")
        return DoseCheck(covered_by=earlier.description if earlier is not None else None)
    if deviation is None:
        raise Invalid(
            _("The dose on %(d)s is %(w)s for its window: record it with a protocol deviation (what happened, and the action taken).")
            % {"d": when.isoformat(), "w": _("early") if window == "early" else _("late")},
            field="deviation",
        )  # fmt: skip
    description = _check_text(deviation.description, "deviation.description")
    _check_text(deviation.action, "deviation.action")
    return DoseCheck(deviation_date=when, covered_by=description)


def _check_text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(_("This is required."), field=field)
    if len(value) > MAX_TEXT:
        raise Invalid(_("At most %(n)s characters.") % {"n": MAX_TEXT}, field=field)
    if "\x00" in value:
        raise Invalid(_("A NUL character is not allowed."), field=field)
    return value


@transaction.atomic
def do_report_deviation(
    actor: Actor,
    subject: Subject,
    *,
    type: str,
    occurred_on: date | None,
    description: str,
    action: str,
    form_entry: FormEntry | None = None,
) -> Deviation:
    """Record a protocol deviation of ``subject`` (audited)."""
    require(actor, "report_deviation", subject.site)
    if type not in Deviation.Type.values:
        raise Invalid(_("Unknown deviation type %(t)r; known: %(k)s.") % {"t": type, "k": ", ".join(Deviation.Type.values)}, field="type")
    if occurred_on is None:
        raise Invalid(_("Give the date it happened."), field="occurred_on")
    today = timezone.localdate(timezone.now(), ZoneInfo(subject.site.time_zone))
    if occurred_on > today:
        raise Invalid(_("The date %(d)s is in the future.") % {"d": occurred_on.isoformat()}, field="occurred_on")
    documents = current_protocol().consent_documents
    if documents and occurred_on < documents[0].effective:
        raise Invalid(_("The date %(d)s is before the trial's first consent document (%(e)s).")
                      % {"d": occurred_on.isoformat(), "e": documents[0].effective.isoformat()}, field="occurred_on")  # fmt: skip
    if type == Deviation.Type.DOSE_WINDOW and form_entry is None:
        raise Invalid(_("A dose outside its window is reported from its dosing form, with the dose."), field="type")
    if form_entry is not None and form_entry.subject_id != subject.pk:
        raise Invalid(_("The form is another subject's."), field="form_entry")
    deviation = Deviation.objects.create(
        subject=subject, type=type, occurred_on=occurred_on,
        description=_check_text(description, "description"), action=_check_text(action, "action"),
        form_entry=form_entry, reported_at=timezone.now(), reported_by=actor.user,
    )  # fmt: skip
    record(actor, "report_deviation", deviation, site=subject.site, subject_id=subject.subject_id,
           new={"type": type, "occurred_on": occurred_on, "description": deviation.description, "action": deviation.action,
                "form": f"{form_entry.visit_id}/{form_entry.form_id}" if form_entry else None})  # fmt: skip
    return deviation


def subject_dose_calendar(subject: Subject, arm: str | None = None, entries: list[FormEntry] | None = None,
                          ) -> list[CalendarDose] | None:  # fmt: skip
    """The subject's dosing calendar from day 0, or None before randomization (``entries``:
    all the subject's forms, when the caller has them already)."""
    protocol = current_protocol()
    arm = arm if arm is not None else subject_arm(subject)
    if protocol.dosing is None or arm is None or subject.anchor_date is None:
        return None
    tz = ZoneInfo(subject.site.time_zone)
    stopped = treatment_stopped_since(subject.screening)
    return dose_calendar(protocol, subject.anchor_date, recorded_doses(subject, entries=entries), timezone.localdate(timezone.now(), tz), tz,
                         stopped_on=timezone.localdate(stopped, tz) if stopped else None)  # fmt: skip
