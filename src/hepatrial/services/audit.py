"""Write audit rows. Called only from inside an action's transaction."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from hepatrial.services.access import Actor
from hepatrial.web.trial.models import AuditEvent, Site


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
    event.save(force_insert=True)
    return event


def record_all(*events: AuditEvent) -> list[AuditEvent]:
    """Write several audit rows (from ``event_for``) in one INSERT, in this order."""
    _require_transaction()
    return AuditEvent.objects.bulk_create(events)


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
