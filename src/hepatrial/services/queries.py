"""Data queries: raised on a field by a monitor or data manager, or by a soft
edit check; open -> answered -> closed, and closed_modified when the value
changes after closing. A query raised by a check closes itself when the data
no longer trips the check."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.errors import ActionError, Invalid
from hepatrial.services.locks import ensure_writable
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import DataQuery, FormEntry, QueryMessage

OPEN_STATES = (DataQuery.State.OPEN, DataQuery.State.ANSWERED)
CLOSED_STATES = (DataQuery.State.CLOSED, DataQuery.State.CLOSED_MODIFIED)


def _audit(actor: Actor, query: DataQuery, action: str, old_state: str | None, text: str) -> None:
    record(
        actor, action, query, field="state", old=old_state, new=query.state, reason=text,
        site=query.subject.site, subject_id=query.subject.subject_id,
    )  # fmt: skip


def _message(query: DataQuery, actor: Actor | None, kind: str, text: str) -> None:
    author = actor.user if actor is not None and actor.user.is_authenticated else None
    QueryMessage.objects.create(query=query, author=author, at=timezone.now(), kind=kind, text=text)


def open_check_query(actor: Actor, entry: FormEntry, field: str, check_id: str, text: str) -> DataQuery | None:
    """A query from an edit check, unless one for the same field and check is still open."""
    if entry.queries.filter(field=field, check_id=check_id, state__in=OPEN_STATES).exists():
        return None
    now = timezone.now()
    query = DataQuery.objects.create(
        subject=entry.subject, form_entry=entry, field=field, check_id=check_id, text=text,
        raised_by=None, raised_at=now, updated_at=now,
    )  # fmt: skip
    _message(query, None, "raise", text)
    _audit(actor, query, "raise_query", None, text)
    return query


def settle_after_save(
    actor: Actor,
    entry: FormEntry,
    still_warning: set[tuple[str, str]],
    changed: set[str],
    confirmed: dict[tuple[str, str], str] | None = None,
) -> list[DataQuery]:
    """After a save: a check query whose check no longer fires closes itself; one
    the user confirmed (value right as entered) is *answered* with the reason,
    for the monitor to close; a closed query whose value changed becomes
    closed_modified."""
    confirmed = confirmed or {}
    settled = []
    for query in entry.queries.select_for_update(no_key=True):
        old = query.state
        key = (query.field, query.check_id)
        if query.state == DataQuery.State.OPEN and query.check_id and key in confirmed:
            query.state = DataQuery.State.ANSWERED
            query.updated_at = timezone.now()
            query.save()
            _message(query, actor, "answer", _("Confirmed as entered: %(why)s") % {"why": confirmed[key]})
            _audit(actor, query, "answer_query", old, confirmed[key])
            settled.append(query)
            continue
        if query.state in OPEN_STATES and query.check_id and key not in still_warning and key not in confirmed:
            query.state = DataQuery.State.CLOSED
            query.value_when_closed = entry.data.get(query.field)
            text = _("Closed by the system: the value no longer trips the check.")
        elif query.state == DataQuery.State.CLOSED and query.field in changed:
            query.state = DataQuery.State.CLOSED_MODIFIED
            text = _("The value changed after the query was closed.")
        else:
            continue
        query.updated_at = timezone.now()
        query.save()
        _message(query, None, "system", text)
        _audit(actor, query, "settle_query", old, text)
        settled.append(query)
    return settled


@transaction.atomic
def do_raise_query(actor: Actor, entry: FormEntry, field: str, text: str) -> DataQuery:
    require(actor, "raise_query", entry.subject.site)
    ensure_writable(entry.subject, entry.visit_id, entry)
    if not current_protocol().form(entry.form_id).has_field(field):
        raise Invalid(_("The form has no field %(f)s.") % {"f": field}, field="field")
    if not text.strip():
        raise Invalid(_("Say what the query asks."), field="text")
    now = timezone.now()
    query = DataQuery.objects.create(
        subject=entry.subject, form_entry=entry, field=field, text=text.strip(),
        raised_by=actor.user, raised_at=now, updated_at=now,
    )  # fmt: skip
    _message(query, actor, "raise", text.strip())
    _audit(actor, query, "raise_query", None, text.strip())
    return query


def _transition(actor: Actor, query: DataQuery, permission: str, allowed_from: tuple, new_state: str,
                kind: str, text: str, text_required: bool) -> DataQuery:  # fmt: skip
    query = DataQuery.objects.select_for_update(of=("self",), no_key=True).select_related("subject__site", "form_entry").get(pk=query.pk)
    require(actor, permission, query.subject.site)
    ensure_writable(query.subject, query.form_entry.visit_id, query.form_entry)
    if query.state not in allowed_from:
        raise ActionError(_("The query is %(state)s.") % {"state": query.get_state_display()})
    if text_required and not text.strip():
        raise Invalid(_("Write a reply."), field="text")
    old = query.state
    query.state = new_state
    query.updated_at = timezone.now()
    if new_state == DataQuery.State.CLOSED:
        query.value_when_closed = query.form_entry.data.get(query.field)
    query.save()
    _message(query, actor, kind, text.strip())
    _audit(actor, query, f"{kind}_query", old, text.strip())
    return query


@transaction.atomic
def do_answer_query(actor: Actor, query: DataQuery, text: str) -> DataQuery:
    return _transition(actor, query, "answer_query", OPEN_STATES, DataQuery.State.ANSWERED, "answer", text, True)


@transaction.atomic
def do_close_query(actor: Actor, query: DataQuery, text: str = "") -> DataQuery:
    return _transition(actor, query, "close_query", OPEN_STATES, DataQuery.State.CLOSED, "close", text, False)


@transaction.atomic
def do_reopen_query(actor: Actor, query: DataQuery, text: str) -> DataQuery:
    return _transition(actor, query, "close_query", CLOSED_STATES, DataQuery.State.OPEN, "reopen", text, True)


def query_age_days(query: DataQuery, now: Any = None) -> int:
    return ((now or timezone.now()) - query.raised_at).days
