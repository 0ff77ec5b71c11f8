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
from django.db.models import Exists
from django.utils import timezone

from hepatrial.core import audit_chain
from hepatrial.services.access import Actor
from hepatrial.services.errors import Locked
from hepatrial.web.trial.models import AuditEvent, Lock, Site

#: The PostgreSQL advisory lock that serialises writers of the chain (any constant key
#: no other part of hepatrial uses).
CHAIN_LOCK = 7_405_501

#: What still happens while the database is locked (services.locks): reading (the views
#: that are audited), the locks themselves, signatures, and accounts.
WHILE_DATABASE_LOCKED = frozenset({
    "lock", "unlock", "sign", "view_prescreen", "open_prescreen_candidate",
    "create_user", "create_site", "create_token", "revoke_token", "change_role", "lift_lockout",
    "start_two_factor_setup", "enrol_two_factor", "reset_two_factor",
})  # fmt: skip


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
        _link(event, attached=False)
        event.save(force_insert=True)
    return event


def content(event: AuditEvent) -> dict[str, Any]:
    """What a row's hash covers."""
    return {name: getattr(event, name) for name in audit_chain.FIELDS}


def hold_chain() -> None:
    """Hold the audit chain until this transaction ends: every other writer waits. On
    PostgreSQL a transaction-scoped advisory lock (taken again, it is held once); SQLite's
    IMMEDIATE transactions already hold the whole database from their start.

    An action that locks rows takes the chain first, and locks rows FOR NO KEY UPDATE
    (``select_for_update(no_key=True)``), which does not block another transaction's
    foreign-key checks: so a writer holding the chain never waits for a row held by one
    waiting for the chain (no deadlock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


_WRITES = ("INSERT", "UPDATE", "DELETE")


def chain_first(execute, sql, params, many, context):
    """A PostgreSQL connection's execute wrapper: inside a transaction, the chain is held
    before the first statement that writes or locks rows, whatever action runs it, so no
    writer ever waits for a row while holding the chain (the advisory lock is re-entrant
    and ends with the transaction). Installed on every PostgreSQL connection (trial app)."""
    connection = context["connection"]
    head = sql.lstrip()[:6].upper()
    if connection.in_atomic_block and (head in _WRITES or " FOR UPDATE" in sql or " FOR NO KEY UPDATE" in sql):
        with connection.cursor() as cursor:  # (a cursor of its own: not this wrapper again)
            cursor.cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    return execute(sql, params, many, context)


def _link(*events: AuditEvent, attached: bool = True) -> None:
    """Chain ``events`` after the last row written, holding the chain until commit. An
    action's write (``attached``) is refused while the database is locked, unless it is
    one of WHILE_DATABASE_LOCKED: every route's writes pass here."""
    hold_chain()
    database_locks = Lock.objects.filter(scope=Lock.Scope.DATABASE, unlocked_at__isnull=True)
    last = AuditEvent.objects.order_by("-pk")
    if attached and any(event.action not in WHILE_DATABASE_LOCKED for event in events):
        # the last link and whether the database is locked: one question (a write's every time)
        row = last.annotate(locked=Exists(database_locks)).values_list("hash", "locked").first()
        prev, locked = row if row is not None else (None, database_locks.exists())
        if locked:
            from hepatrial.services.locks import describe

            raise Locked(describe(database_locks.select_related("locked_by").first()))
    else:
        prev = last.values_list("hash", flat=True).first()
    prev = prev or audit_chain.GENESIS
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
