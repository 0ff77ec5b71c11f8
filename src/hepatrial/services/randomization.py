"""The allocation list in the database, and randomizing a subject.

The list is imported once, verified row by row against its file; at start-up
and on demand the rows in the database are checked against the digest
recorded at import. A subject is randomized by claiming the first free slot
of their site and stratum with a conditional update (``... WHERE subject IS
NULL``: exactly one row changes), which holds under concurrency on SQLite and
PostgreSQL alike; the one-to-one link from slot to subject makes a second
randomization of the same subject impossible.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.randomization import AllocationListError, read_list
from hepatrial.services.access import Actor, require
from hepatrial.services.audit import event_for, record, record_all
from hepatrial.services.enrollment import active_consent, current_consent_version
from hepatrial.services.errors import ActionError, Invalid, NotAllowed
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import (
    AllocationList,
    AllocationSlot,
    AuditEvent,
    Role,
    Site,
    Subject,
)

HEADER = "site,stratum,sequence,block,block_size,arm"
#: How often a claim is retried when another randomization took the slot first.
CLAIM_ATTEMPTS = 100


def _row_line(site: str, stratum: str, sequence: int, block: int, block_size: int, arm: str) -> str:
    return f"{site},{stratum},{sequence},{block},{block_size},{arm}"


def _stored_lines(alist: AllocationList) -> list[str]:
    slots = alist.slots.select_related("site").order_by("row")
    return [_row_line(s.site.code, s.stratum, s.sequence, s.block, s.block_size, s.arm) for s in slots]


def database_digest(alist: AllocationList) -> str:
    """The SHA-256 of the list as it stands in the database, computed as the file's is."""
    return hashlib.sha256("\n".join([HEADER, *_stored_lines(alist)]).encode("utf-8")).hexdigest()


@transaction.atomic
def do_import_list(actor: Actor, path: str | Path) -> AllocationList:
    """Import the protocol's allocation list once; verified row by row against the file."""
    if actor.role not in (Role.STATISTICIAN, Role.ADMIN):
        raise NotAllowed(_("Only the statistician or an administrator imports the allocation list."))
    protocol = current_protocol()
    if protocol.randomization is None:
        raise ActionError(_("The protocol declares no randomization."))
    if AllocationList.objects.filter(protocol_id=protocol.id).exists():
        raise ActionError(_("An allocation list is already imported for %(p)s; it cannot be replaced.") % {"p": protocol.id})
    try:
        alist = read_list(path, spec=protocol.randomization, protocol_id=protocol.id)
    except AllocationListError as err:
        raise Invalid(str(err), field="file") from None
    sites = {s.code: s for s in Site.objects.filter(code__in={r.site for r in alist.rows})}
    missing = sorted({r.site for r in alist.rows} - set(sites))
    if missing:
        raise Invalid(_("The list names sites that do not exist here: %(s)s") % {"s": ", ".join(missing)}, field="file")
    imported = AllocationList.objects.create(
        protocol_id=protocol.id, digest=alist.digest, file_name=Path(path).name, rows=len(alist.rows),
        imported_at=timezone.now(), imported_by=actor.user,
    )  # fmt: skip
    AllocationSlot.objects.bulk_create(
        AllocationSlot(allocation_list=imported, row=i, site=sites[r.site], stratum=r.stratum, sequence=r.sequence,
                       block=r.block, block_size=r.block_size, arm=r.arm)  # fmt: skip
        for i, r in enumerate(alist.rows, start=1)
    )
    # verify what was stored, row by row, against the file
    expected = [_row_line(r.site, r.stratum, r.sequence, r.block, r.block_size, r.arm) for r in alist.rows]
    if _stored_lines(imported) != expected or database_digest(imported) != alist.digest:
        raise ActionError(_("The stored list differs from the file; nothing was imported."))
    record(actor, "import_allocation_list", imported, new={"digest": alist.digest, "rows": len(alist.rows)})
    return imported


def verify_list(path: str | Path | None = None) -> list[str]:
    """Problems with the imported list (empty when it is intact): the rows in the
    database against the digest recorded at import, and against a file if given."""
    protocol = current_protocol()
    imported = AllocationList.objects.filter(protocol_id=protocol.id).first()
    if imported is None:
        return [_("No allocation list is imported for %(p)s.") % {"p": protocol.id}]
    problems = []
    if imported.slots.count() != imported.rows:
        problems.append(_("The list had %(n)s rows at import; the database holds %(m)s.") % {"n": imported.rows, "m": imported.slots.count()})
    if database_digest(imported) != imported.digest:
        problems.append(_("The rows in the database no longer match the digest recorded at import."))
    if path is not None:
        try:
            alist = read_list(path, spec=protocol.randomization, protocol_id=protocol.id)
        except AllocationListError as err:
            return problems + [str(err)]
        if alist.digest != imported.digest:
            problems.append(_("The file's digest differs from the imported list's."))
    return problems


def stratum_of(subject: Subject) -> str | None:
    spec = current_protocol().randomization
    value = subject.screening.candidate.get(spec.stratify_by) if spec else None
    return value if spec and value in spec.strata else None


def randomization_blockers(subject: Subject) -> list[str]:
    """What stands between this subject and randomization (empty: can be randomized)."""
    blockers = []
    if AllocationSlot.objects.filter(subject=subject).exists():
        return [_("%(id)s is already randomized.") % {"id": subject.subject_id}]
    decision = getattr(subject.screening, "decision", None)
    if decision is None or not decision.eligible:
        blockers.append(_("An investigator must confirm eligibility first."))
    consent = active_consent(subject.screening)
    if consent is None:
        blockers.append(_("No consent is recorded (or it was withdrawn)."))
    elif consent.version != current_consent_version():
        blockers.append(_("Consent is not to the current version: re-consent first."))
    if stratum_of(subject) is None:
        blockers.append(_("The subject's stratum is not known (the screening's %(f)s).")
                        % {"f": getattr(current_protocol().randomization, "stratify_by", "stratum")})  # fmt: skip
    return blockers


@transaction.atomic
def do_randomize(actor: Actor, subject: Subject) -> AllocationSlot:
    """Allocate ``subject`` to the arm of the next free slot of their site and stratum.

    On PostgreSQL the list's row is locked (``SELECT ... FOR UPDATE``) for the
    transaction, so randomizations queue one behind the other instead of all
    racing for the same free slot and retrying (SQLite's IMMEDIATE transactions
    queue them already). The conditional update stays the guarantee. On success
    ``subject.anchor_date`` is set to day 0, as it was saved."""
    require(actor, "randomize", subject.site)
    protocol = current_protocol()
    imported = AllocationList.objects.select_for_update(no_key=True).filter(protocol_id=protocol.id).first()
    if imported is None:
        raise ActionError(_("No allocation list is imported yet."))
    blockers = randomization_blockers(subject)
    if blockers:
        raise ActionError(blockers[0])
    stratum = stratum_of(subject)
    now = timezone.now()
    for _attempt in range(CLAIM_ATTEMPTS):
        slot = (
            AllocationSlot.objects.filter(allocation_list=imported, site=subject.site, stratum=stratum,
                                          subject__isnull=True, available=True)  # fmt: skip
            .order_by("sequence")
            .first()
        )
        if slot is None:
            raise ActionError(_("No free allocation slot is left for this site and stratum: tell the statistician."))
        try:
            with transaction.atomic():
                claimed = AllocationSlot.objects.filter(pk=slot.pk, subject__isnull=True, available=True).update(
                    subject=subject, allocated_at=now, allocated_by=actor.user
                )
        except IntegrityError:  # the subject holds a slot already (a concurrent randomization of them won)
            raise ActionError(_("%(id)s is already randomized.") % {"id": subject.subject_id}) from None
        if claimed == 1:
            break
    else:  # pragma: no cover - needs CLAIM_ATTEMPTS consecutive lost races
        raise ActionError(_("Randomization is busy; try again."))
    # the row as the update left it (its other columns are the list's and do not change)
    slot.subject, slot.allocated_at, slot.allocated_by = subject, now, actor.user
    day0_event = set_day0(actor, subject, now)
    record_all(event_for(actor, "randomize", slot, new={"arm": slot.arm, "stratum": stratum}, site=subject.site,
                         subject_id=subject.subject_id), day0_event)  # fmt: skip
    return slot


def set_day0(actor: Actor, subject: Subject, randomized_at) -> AuditEvent:
    """Day 0 becomes the date of randomization at the subject's site (stored and on ``subject``);
    returns its audit event, for the caller to write with the randomization's own."""
    old_day0 = subject.anchor_date
    day0 = timezone.localdate(randomized_at, ZoneInfo(subject.site.time_zone))
    Subject.objects.filter(pk=subject.pk).update(anchor_date=day0)
    subject.anchor_date = day0
    return event_for(actor, "randomize", subject, field="anchor_date", old=old_day0, new=day0,
                     reason=_("day 0 is the randomization date"), site=subject.site, subject_id=subject.subject_id)
