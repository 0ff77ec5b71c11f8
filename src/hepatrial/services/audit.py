"""Write audit rows, each linked to the one before it (a hash chain), and verify the chain.

Rows are written only from inside an action's transaction. The chain's order is the rows'
keys: writers are serialised while they link a row (SQLite's IMMEDIATE transactions
already are; on PostgreSQL a transaction-scoped advisory lock does it), so a later key
is always a later link, and a rolled-back write leaves no link behind.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from hepatrial.core import audit_chain
from hepatrial.services.access import Actor
from hepatrial.web.trial.models import AuditEvent, Site

#: The PostgreSQL advisory lock that serialises writers of the chain (any constant key
#: no other part of hepatrial uses).
CHAIN_LOCK = 7_405_501


def jsonable(value: Any) -> Any:
    """A value as the audit stores it (dates as ISO text)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    json.dumps(value)  # fails loudly on anything that would not survive storage
    return value


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit rows are written inside the action's transaction")


def record(
    actor: Actor,
    action: str,
    obj: Any,
    *,
    field: str = "",
    old: Any = None,
    new: Any = None,
    reason: str = "",
    site: Site | None = None,
    subject_id: str = "",
) -> AuditEvent:
    _require_transaction()
    event = event_for(actor, action, obj, field=field, old=old, new=new, reason=reason, site=site, subject_id=subject_id)
    _link(event)
    event.save(force_insert=True)
    return event


def record_all(*events: AuditEvent) -> list[AuditEvent]:
    """Write several audit rows (from ``event_for``) in one INSERT, in this order."""
    _require_transaction()
    _link(*events)
    return AuditEvent.objects.bulk_create(events)


def record_unattached(**fields: Any) -> AuditEvent:
    """An audit row of no action's (a login, a failed login): its own transaction."""
    with transaction.atomic():
        event = AuditEvent(at=timezone.now(), **fields)
        _link(event)
        event.save(force_insert=True)
    return event


def content(event: AuditEvent) -> dict[str, Any]:
    """What a row's hash covers."""
    return {name: getattr(event, name) for name in audit_chain.FIELDS}


def _link(*events: AuditEvent) -> None:
    """Chain ``events`` after the last row written, holding the chain until commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    prev = AuditEvent.objects.order_by("-pk").values_list("hash", flat=True).first() or audit_chain.GENESIS
    for event in events:
        event.prev_hash = prev
        event.hash = prev = audit_chain.link(prev, content(event))


def verify_chain(progress: Any = None) -> audit_chain.Verdict:
    """Walk the whole audit trail in key order (``progress(n)`` after every n rows read)."""

    def rows():
        for n, event in enumerate(AuditEvent.objects.order_by("pk").iterator(chunk_size=5000), start=1):
            if progress is not None and n % 5000 == 0:
                progress(5000)
            yield event.pk, event.prev_hash, event.hash, content(event)

    return audit_chain.verify(rows())


def event_for(
    actor: Actor,
    action: str,
    obj: Any,
    *,
    field: str = "",
    old: Any = None,
    new: Any = None,
    reason: str = "",
    site: Site | None = None,
    subject_id: str = "",
) -> AuditEvent:
    """The audit row ``record`` would write, not yet saved (for ``record_all``)."""
    return AuditEvent(
        at=timezone.now(),
        user=actor.user if actor.user.is_authenticated else None,
        username=actor.user.get_username() if actor.user.is_authenticated else "(system)",
        route=actor.route,
        action=action,
        model=type(obj).__name__,
        object_id=str(obj.pk),
        field=field,
        old=jsonable(old),
        new=jsonable(new),
        reason=reason,
        site=site,
        subject_id=subject_id,
    )
