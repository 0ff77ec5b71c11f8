"""Saving an eCRF: hard checks refuse, soft checks save and open a query
(unless confirmed with a reason), a changed value needs a reason, and a
stale version is a conflict, never a silent overwrite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from datetime import timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.forms import FieldIssue, FormError, validate_form
from hepatrial.core.protocol import FormSpec, VisitSpec
from hepatrial.core.schedule import PlannedVisit, planned_visits
from hepatrial.services.access import Actor, require
from hepatrial.services.audit import event_for, jsonable, record, record_all
from hepatrial.services.dosing import (
    DeviationInput,
    check_dose,
    do_report_deviation,
    is_dosing_form,
    refuse_dose_at,
)
from hepatrial.services.enrollment import no_further_data_since
from hepatrial.services.errors import Conflict, Invalid, NotFound
from hepatrial.services.locks import ensure_writable
from hepatrial.services.protocol import current_protocol
from hepatrial.services.queries import OPEN_STATES, open_check_query, settle_after_save
from hepatrial.services.safety import after_save as safety_after_save
from hepatrial.services.safety import check_ae, is_ae_form
from hepatrial.services.signatures import void_signatures
from hepatrial.web.trial.models import DataQuery, Deviation, FormEntry, Subject


@dataclass(frozen=True)
class SaveResult:
    entry: FormEntry
    opened_queries: list[DataQuery]
    warnings: list[FieldIssue]


#: Where a warning about the visit itself (outside its window) is attached.
VISIT_DATE_FIELD = "visit_date"


def issue_field(issue: FieldIssue) -> str:
    """The field a warning or error belongs to; visit-level ones belong to the visit date."""
    return issue.field or VISIT_DATE_FIELD


def warning_key(issue: FieldIssue) -> str:
    """How a form names one soft warning when confirming it: ``field:code``."""
    return f"{issue_field(issue)}:{issue.code}"


def _errors(issues: list[FieldIssue]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for issue in issues:
        out.setdefault(issue_field(issue), []).append(issue.message)
    return out


def visit_and_form(visit_id: str, form_id: str) -> tuple[VisitSpec, FormSpec]:
    """The protocol's visit and form, when the visit collects that form; else NotFound."""
    protocol = current_protocol()
    try:
        visit, form = protocol.visit(visit_id), protocol.form(form_id)
    except KeyError:
        raise NotFound(_("No such visit or form in the protocol.")) from None
    if form_id not in visit.forms:
        raise NotFound(_("The visit %(v)s has no form %(f)s.") % {"v": visit.label, "f": form_id})
    return visit, form


@transaction.atomic
def do_save_form(
    actor: Actor,
    subject: Subject,
    visit_id: str,
    form_id: str,
    values: dict[str, Any],
    *,
    expected_version: int | None,
    visit_date: date | None,
    reason: str = "",
    confirmations: dict[str, str] | None = None,
    sequence: int = 1,
    complete: bool = True,
    deviation: DeviationInput | None = None,
) -> SaveResult:
    """Save one form of one visit. ``expected_version`` is the version the user
    opened (None for a new form). ``confirmations`` maps a warning key
    (:func:`warning_key`) to the reason the value is right as entered.
    ``complete=False`` saves a partly filled form (required fields may be empty).
    The dosing form is a dose: see :mod:`hepatrial.services.dosing` (``deviation``
    is the protocol deviation an out-of-window dose is saved with)."""
    require(actor, "enter_data", subject.site)
    protocol = current_protocol()
    dosing = is_dosing_form(form_id)
    if dosing:
        refuse_dose_at(subject, visit_id)
    elif deviation is not None:
        raise Invalid(_("Only a dose is saved with a deviation; report other deviations in the deviations log."), field="deviation")
    visit, _spec = visit_and_form(visit_id, form_id)
    max_sequence = max_sequence_of(visit)
    if not sequence_allowed(visit, sequence):
        raise Invalid(_("This form is entered once per visit.") if max_sequence == 1
                      else _("Unscheduled visits are numbered 1 to %(n)s.") % {"n": MAX_REPEATS}, field="sequence")  # fmt: skip
    _check_visit_date(subject, visit, visit_date, complete)
    if any("\x00" in str(k) + str(v) for k, v in (confirmations or {}).items()):
        raise Invalid(_("A confirmation contains a NUL character."), field="confirmations")
    entry = (
        FormEntry.objects.select_for_update(no_key=True)
        .filter(subject=subject, visit_id=visit_id, form_id=form_id, sequence=sequence)
        .first()
    )
    if entry is not None:
        entry.subject = subject  # (what follows reads its site: not fetched again)
    ensure_writable(subject, visit_id, entry)  # a lock of the record, its visit or the database
    current_version = entry.version if entry else None
    if expected_version != current_version:
        raise Conflict(_("Someone saved this form after you opened it. Reload it to see their values; nothing was saved."))

    visit_day = (visit_date - subject.anchor_date).days if visit_date and subject.anchor_date else None
    try:
        validation = validate_form(
            protocol, form_id, values, visit_date=visit_date, visit_day=visit_day, visit_id=visit_id,
            tz=ZoneInfo(subject.site.time_zone),
        )  # fmt: skip
    except FormError as err:
        raise Invalid(str(err), field=err.field) from None
    errors = [e for e in validation.errors if complete or e.code != "required"]
    if errors:
        raise Invalid(_("The form has errors; nothing was saved."), errors=_errors(errors))
    dose = check_dose(subject, visit_id, validation.cleaned, entry, deviation) if dosing else None
    if is_ae_form(form_id):
        check_ae(subject, validation.cleaned)
    if dose is not None and dose.covered_by:  # the deviation explains the visit being out of its window: no query too
        confirmations = {f"{VISIT_DATE_FIELD}:visit_window": _("protocol deviation: %(d)s") % {"d": dose.covered_by},
                         **(confirmations or {})}  # fmt: skip

    new_data = jsonable(_in_utc(validation.cleaned))
    old_data = entry.data if entry else {}
    changed = {f: (old_data.get(f), v) for f, v in new_data.items() if old_data.get(f) != v}
    old_visit_date = entry.visit_date if entry else None
    changes_saved_value = any(old is not None for old, _new in changed.values()) or (
        old_visit_date is not None and old_visit_date != visit_date
    )
    reason = reason.strip()
    if changes_saved_value and not reason:
        raise Invalid(_("A saved value is changing: give the reason for the change."), field="reason")

    now = timezone.now()
    status = FormEntry.Status.COMPLETE if complete else FormEntry.Status.STARTED
    old_status = entry.status if entry else None
    if entry is None:
        try:
            with transaction.atomic():
                entry = FormEntry.objects.create(
                    subject=subject, visit_id=visit_id, form_id=form_id, sequence=sequence, visit_date=visit_date,
                    data=new_data, status=status, version=1, created_at=now, created_by=actor.user,
                    updated_at=now, updated_by=actor.user,
                )  # fmt: skip
        except IntegrityError:  # another first save of the same form committed a moment ago
            raise Conflict(_("Someone saved this form at the same moment. Reload it; nothing of yours was saved.")) from None
        action = "create_form"
    else:
        entry.data, entry.visit_date, entry.status = new_data, visit_date, status
        entry.version += 1
        entry.updated_at, entry.updated_by = now, actor.user
        entry.save()
        action = "update_form"

    audit = {"site": subject.site, "subject_id": subject.subject_id}
    where = f"{visit_id}/{form_id}" + (f"#{sequence}" if sequence != 1 else "")
    events = []  # an audit row for each changed value, written together (a first save: one for each field)
    if old_visit_date != visit_date:
        events.append(event_for(actor, action, entry, field=f"{where}.visit_date", old=old_visit_date, new=visit_date,
                                reason=reason, **audit))  # fmt: skip
    if old_status != status:
        events.append(event_for(actor, action, entry, field=f"{where}.status", old=old_status, new=status, reason=reason, **audit))
    for field, (old, new) in changed.items():
        events.append(event_for(actor, action, entry, field=f"{where}.{field}", old=old, new=new, reason=reason, **audit))
    if events:  # (a first save always has some: its status)
        record_all(*events)
        void_signatures(actor, subject, visit_id, where)  # what was signed is not what is stored now

    if dose is not None and dose.deviation_date is not None and deviation is not None:
        do_report_deviation(actor, subject, type=Deviation.Type.DOSE_WINDOW, occurred_on=dose.deviation_date,
                            description=deviation.description, action=deviation.action, form_entry=entry)  # fmt: skip

    confirmations = confirmations or {}
    opened: list[DataQuery] = []
    still_warning: set[tuple[str, str]] = set()
    confirmed: dict[tuple[str, str], str] = {}
    for warning in validation.warnings:
        field = issue_field(warning)
        why = str(confirmations.get(warning_key(warning)) or "").strip()
        if why:
            record(actor, "confirm_warning", entry, field=f"{where}.{field}", new=new_data.get(warning.field or ""),
                   reason=f"{warning.code}: {why}", **audit)  # fmt: skip
            confirmed[(field, warning.code)] = why
            continue
        still_warning.add((field, warning.code))
        query = open_check_query(actor, entry, field, warning.code, warning.message)
        if query is not None:
            opened.append(query)
    changed_fields = set(changed) | ({VISIT_DATE_FIELD} if old_visit_date != visit_date else set())
    settle_after_save(actor, entry, still_warning, changed_fields, confirmed)
    safety_after_save(actor, entry)  # SAE alert, stopping rules
    return SaveResult(entry, opened, list(validation.warnings))


#: An unscheduled visit may be entered this many times per subject.
MAX_REPEATS = 99


def max_sequence_of(visit: Any) -> int:
    """How many times a visit's forms may be entered: unscheduled visits and logs repeat."""
    return MAX_REPEATS if visit.kind in ("unscheduled", "log") else 1


def sequence_allowed(visit: Any, sequence: Any) -> bool:
    return not isinstance(sequence, bool) and isinstance(sequence, int) and 1 <= sequence <= max_sequence_of(visit)


def _in_utc(cleaned: dict[str, Any]) -> dict[str, Any]:
    """Date-times in UTC, so the same instant entered in two offsets is one value."""
    return {k: v.astimezone(dt_timezone.utc) if isinstance(v, datetime) else v for k, v in cleaned.items()}


def _check_visit_date(subject: Subject, visit: Any, visit_date: date | None, complete: bool) -> None:
    """A visit date is real: not in the future, not before day 0 for a visit
    after it, present on a complete form, and not after a 'no further data'
    withdrawal of consent."""
    if visit_date is None:
        if complete:
            raise Invalid(_("Give the visit date."), field="visit_date")
        return
    today = timezone.localdate(timezone.now(), ZoneInfo(subject.site.time_zone))
    if visit_date > today:
        raise Invalid(_("The visit date %(d)s is in the future.") % {"d": visit_date.isoformat()}, field="visit_date")
    if visit.kind == "scheduled" and subject.anchor_date and visit_date < subject.anchor_date:
        raise Invalid(_("The visit date is before day 0 (%(d)s).") % {"d": subject.anchor_date.isoformat()}, field="visit_date")
    stopped = no_further_data_since(subject.screening)
    if stopped is not None and visit_date > timezone.localdate(stopped, ZoneInfo(subject.site.time_zone)):
        raise Invalid(
            _("Consent was withdrawn for any further data on %(d)s: no data of a later visit can be entered.")
            % {"d": timezone.localdate(stopped, ZoneInfo(subject.site.time_zone)).isoformat()},
            field="visit_date",
        )


# --- reading -------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridCell:
    form_id: str
    title: str
    status: str  # missing | started | complete | queried
    entry: FormEntry | None


@dataclass(frozen=True)
class GridRow:
    visit_id: str
    label: str
    kind: str
    planned: PlannedVisit | None
    cells: list[GridCell]


def form_status(entry: FormEntry | None, queried: bool | None = None) -> str:
    """missing, started, complete, or queried (an open or answered query on it); ``queried``
    when the caller already knows (visit_grid asks once for all of a subject's forms)."""
    if entry is None:
        return "missing"
    if queried is None:
        queried = entry.queries.filter(state__in=OPEN_STATES).exists()
    return "queried" if queried else entry.status


def visit_grid(subject: Subject, entries: list[FormEntry] | None = None) -> list[GridRow]:
    """Every visit of the protocol with its planned dates (from the subject's day 0)
    and the status of each of its forms (two queries, whatever the number of forms; one
    when the caller has all the subject's forms already, ``entries``)."""
    protocol = current_protocol()
    planned = {p.visit_id: p for p in planned_visits(protocol, subject.anchor_date)} if subject.anchor_date else {}
    firsts = subject.forms.filter(sequence=1) if entries is None else [e for e in entries if e.sequence == 1]
    entries_by = {(e.visit_id, e.form_id): e for e in firsts}
    queried = set(DataQuery.objects.filter(form_entry__subject=subject, form_entry__sequence=1, state__in=OPEN_STATES)
                  .values_list("form_entry_id", flat=True))  # fmt: skip
    rows = []
    for visit in protocol.visits:
        cells = []
        for form_id in visit.forms:
            entry = entries_by.get((visit.id, form_id))
            status = form_status(entry, queried=entry is not None and entry.pk in queried)
            cells.append(GridCell(form_id, protocol.form(form_id).title, status, entry))
        rows.append(GridRow(visit.id, visit.label, visit.kind, planned.get(visit.id), cells))
    return rows
