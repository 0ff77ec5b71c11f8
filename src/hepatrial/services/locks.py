"""Locks: a data manager freezes one record (a form entry), a subject's visit, or the whole
database, with a reason; unlocking takes a reason too; both are audited.

What a lock covers refuses every write, whatever the route (web, API, import):
- Record and visit locks are checked by the actions that write a subject's visit data:
  forms, and the data queries and SAE reports on them.
- The database lock is checked where every write passes, the audit trail
  (``hepatrial.services.audit``). Only reading, the locks themselves, signatures and
  accounts go on while the database is locked.

Each check holds the audit chain first, so a lock and a write cannot pass each other:
on SQLite writers are serialised anyway, and on PostgreSQL by the chain's advisory lock.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.services.access import Actor, require
from hepatrial.services.audit import hold_chain, record
from hepatrial.services.errors import Invalid, Locked
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import FormEntry, Lock, Subject


def describe(lock: Lock) -> str:
    """What ``lock`` covers and who locked it, when and why (for refusals and pages)."""
    what = {
        Lock.Scope.DATABASE: _("The database"),
        Lock.Scope.VISIT: _("Visit %(visit)s of %(subject)s") % {"visit": lock.visit_id, "subject": lock.subject_id_label},
        Lock.Scope.RECORD: _("Form %(form)s of %(subject)s") % {"form": lock.record_label, "subject": lock.subject_id_label},
    }[lock.scope]
    return _("%(what)s is locked (by %(user)s on %(at)s UTC: %(reason)s); nothing about it can change until it is unlocked.") % {
        "what": what, "user": lock.locked_by.get_username(), "at": f"{lock.locked_at:%Y-%m-%d %H:%M}", "reason": lock.reason}


def active_locks():
    return Lock.objects.filter(unlocked_at__isnull=True).select_related("locked_by", "subject", "form_entry")


def lock_on(subject: Subject, visit_id: str, entry: FormEntry | None = None) -> Lock | None:
    """The active lock that covers ``subject``'s ``visit_id`` (and ``entry``), if any."""
    covers = Q(scope=Lock.Scope.DATABASE) | Q(scope=Lock.Scope.VISIT, subject=subject, visit_id=visit_id)
    if entry is not None:
        covers |= Q(scope=Lock.Scope.RECORD, form_entry=entry)
    return active_locks().filter(covers).order_by("locked_at").first()


def ensure_writable(subject: Subject, visit_id: str, entry: FormEntry | None = None) -> None:
    """Refuse (:class:`Locked`) a write to ``subject``'s ``visit_id`` (``entry``) that a lock covers."""
    hold_chain()
    lock = lock_on(subject, visit_id, entry)
    if lock is not None:
        raise Locked(describe(lock))


def _reason(reason: str, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Give the reason."), field=field)
    if "\x00" in reason:
        raise Invalid(_("The reason contains a NUL character."), field=field)
    return reason


@transaction.atomic
def do_lock(actor: Actor, scope: str, *, reason: str, subject: Subject | None = None, visit_id: str = "",
            entry: FormEntry | None = None) -> Lock:  # fmt: skip
    """Lock a record (``entry``), a visit (``subject`` and ``visit_id``) or the database."""
    if scope not in Lock.Scope.values:
        raise Invalid(_("A lock is of a record, a visit or the database."), field="scope")
    if scope == Lock.Scope.RECORD:
        if entry is None:
            raise Invalid(_("Choose the form to lock."), field="form")
        subject, visit_id = entry.subject, entry.visit_id
    elif scope == Lock.Scope.VISIT:
        if subject is None:
            raise Invalid(_("Choose the subject."), field="subject")
        if visit_id not in {v.id for v in current_protocol().visits}:
            raise Invalid(_("The protocol has no visit %(visit)s.") % {"visit": visit_id}, field="visit_id")
    else:
        subject, visit_id, entry = None, "", None
    require(actor, "lock", subject.site if subject else None)
    reason = _reason(reason)
    hold_chain()
    same = active_locks().filter(scope=scope, subject=subject, visit_id=visit_id, form_entry=entry).first()
    if same is not None:
        raise Invalid(describe(same), field="scope")
    lock = Lock.objects.create(scope=scope, subject=subject, visit_id=visit_id, form_entry=entry,
                               locked_at=timezone.now(), locked_by=actor.user, reason=reason)  # fmt: skip
    record(actor, "lock", lock, new=lock.summary(), reason=reason, site=subject.site if subject else None,
           subject_id=subject.subject_id if subject else "")  # fmt: skip
    return lock


@transaction.atomic
def do_unlock(actor: Actor, lock: Lock, *, reason: str) -> Lock:
    require(actor, "lock", lock.subject.site if lock.subject else None)
    reason = _reason(reason)
    hold_chain()
    now = timezone.now()
    if Lock.objects.filter(pk=lock.pk, unlocked_at__isnull=True).update(
            unlocked_at=now, unlocked_by=actor.user, unlock_reason=reason) != 1:  # fmt: skip
        raise Invalid(_("This lock was already lifted."), field="lock")
    lock.refresh_from_db()
    record(actor, "unlock", lock, old=lock.summary(), reason=reason, site=lock.subject.site if lock.subject else None,
           subject_id=lock.subject.subject_id if lock.subject else "")  # fmt: skip
    return lock

