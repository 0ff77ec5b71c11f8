"""Administering the allocation list's slots (statistician and administrator).

Two actions, each needing a reason and a typed confirmation and each audited:

- take a free slot out of use (say, a sealed envelope of that slot was opened
  by mistake): :func:`do_mark_slot_unavailable`, undone by
  :func:`do_restore_slot`;
- allocate a subject by hand to a given free slot of their site and stratum
  (the allocation made from the emergency envelopes while hepatrial was down,
  entered afterwards): :func:`do_allocate_manually`. The same blockers as
  randomization apply (confirmed eligible, current consent, not randomized).

The typed confirmation is what is acted on, typed out: the slot's reference
(``SYSU3-ACLF-7``), or for a manual allocation the subject and the slot
(``SYSU3-001 SYSU3-ACLF-7``), so a slip on a long list cannot act on another
row.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record, record_all
from hepatrial.services.enrollment import active_consent
from hepatrial.services.errors import ActionError, Conflict, Invalid
from hepatrial.services.protocol import current_protocol
from hepatrial.services.randomization import (
    randomization_blockers,
    set_day0,
    stratum_of,
)
from hepatrial.web.trial.models import AllocationList, AllocationSlot, Subject

MAX_REASON = 2000


def slot_reference(slot: AllocationSlot) -> str:
    """How a person names a slot: site, stratum and position, e.g. ``SYSU3-ACLF-7``."""
    return slot.reference


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("Give the reason."), field="reason")
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise Invalid(_("At most %(n)s characters, no NUL.") % {"n": MAX_REASON}, field="reason")
    return reason


def _confirm(typed: str, expected: str) -> None:
    if (typed or "").strip() != expected:
        raise Invalid(_("Type %(x)s exactly to confirm.") % {"x": expected}, field="confirmation")


def _locked(slot: AllocationSlot) -> AllocationSlot:
    return AllocationSlot.objects.select_for_update(of=("self",), no_key=True).select_related("site").get(pk=slot.pk)


@transaction.atomic
def do_mark_slot_unavailable(actor: Actor, slot: AllocationSlot, reason: str, confirmation: str) -> AllocationSlot:
    require(actor, "manage_allocation")
    slot = _locked(slot)
    reason = _reason(reason)
    _confirm(confirmation, slot_reference(slot))
    # conditional update: a randomization claiming the slot at this moment wins or loses cleanly
    changed = AllocationSlot.objects.filter(pk=slot.pk, subject__isnull=True, available=True).update(
        available=False, unavailable_reason=reason
    )
    if changed != 1:
        raise Conflict(_("Slot %(s)s is already allocated or out of use.") % {"s": slot_reference(slot)})
    # slot events carry no site: site staff never read them in their audit trail (concealment)
    record(actor, "mark_slot_unavailable", slot, field="available", old=True, new=False, reason=reason)
    slot.refresh_from_db()
    return slot


@transaction.atomic
def do_restore_slot(actor: Actor, slot: AllocationSlot, reason: str, confirmation: str) -> AllocationSlot:
    require(actor, "manage_allocation")
    slot = _locked(slot)
    reason = _reason(reason)
    _confirm(confirmation, slot_reference(slot))
    if slot.available:
        raise Conflict(_("Slot %(s)s is in use already.") % {"s": slot_reference(slot)})
    old_reason = slot.unavailable_reason
    AllocationSlot.objects.filter(pk=slot.pk).update(available=True, unavailable_reason="")
    record(actor, "restore_slot", slot, field="available", old={"available": False, "reason": old_reason}, new=True,
           reason=reason)  # fmt: skip
    slot.refresh_from_db()
    return slot


def manual_confirmation(subject: Subject, slot: AllocationSlot) -> str:
    """What the statistician types to allocate ``subject`` to ``slot`` by hand: both, e.g. ``SYSU3-001 SYSU3-ACLF-7``."""
    return f"{subject.subject_id} {slot_reference(slot)}"


@transaction.atomic
def do_allocate_manually(
    actor: Actor, subject: Subject, slot: AllocationSlot, randomized_at: datetime | None, reason: str, confirmation: str
) -> AllocationSlot:
    """Allocate ``subject`` to ``slot`` by hand, as randomized at ``randomized_at``
    (the envelope's time); day 0 becomes its date at the site."""
    require(actor, "manage_allocation")
    # the same lock as randomization: a manual allocation and a randomization of one subject queue
    imported = AllocationList.objects.select_for_update(no_key=True).filter(protocol_id=current_protocol().id).first()
    slot = _locked(slot)
    if imported is None or slot.allocation_list_id != imported.pk:
        raise Invalid(_("The slot is not in the protocol's imported list."), field="slot")
    reason = _reason(reason)
    _confirm(confirmation, manual_confirmation(subject, slot))
    blockers = randomization_blockers(subject)
    if blockers:
        raise ActionError(blockers[0])
    if slot.site_id != subject.site_id or slot.stratum != stratum_of(subject):
        raise Invalid(
            _("Slot %(s)s is for site %(site)s, stratum %(st)s; %(id)s is at %(ssite)s, stratum %(sst)s.")
            % {"s": slot_reference(slot), "site": slot.site.code, "st": slot.stratum, "id": subject.subject_id,
               "ssite": subject.site.code, "sst": stratum_of(subject)},
            field="slot",
        )  # fmt: skip
    tz = ZoneInfo(subject.site.time_zone)
    now = timezone.now()
    if randomized_at is None or randomized_at > now:
        raise Invalid(_("Give the time of randomization; it cannot be in the future."), field="randomized_at")
    consent = active_consent(subject.screening)
    if consent is not None and randomized_at < consent.obtained_at:
        raise Invalid(_("The randomization time is before consent (%(d)s).")
                      % {"d": timezone.localtime(consent.obtained_at, tz).strftime("%Y-%m-%d %H:%M")}, field="randomized_at")  # fmt: skip
    try:
        with transaction.atomic():
            changed = AllocationSlot.objects.filter(pk=slot.pk, subject__isnull=True, available=True).update(
                subject=subject, allocated_at=randomized_at, allocated_by=actor.user, manual=True
            )
    except IntegrityError:  # the subject was randomized a moment ago
        raise ActionError(_("%(id)s is already randomized.") % {"id": subject.subject_id}) from None
    if changed != 1:
        raise Conflict(_("Slot %(s)s is already allocated or out of use.") % {"s": slot_reference(slot)})
    day0_event = set_day0(actor, subject, randomized_at)
    slot.refresh_from_db()
    # the slot's event carries no site: site staff never read it in their audit trail (concealment)
    record(actor, "allocate_manually", slot, new={"arm": slot.arm, "slot": slot_reference(slot), "randomized_at": randomized_at},
           reason=reason, subject_id=subject.subject_id)  # fmt: skip
    record_all(day0_event)
    return slot
