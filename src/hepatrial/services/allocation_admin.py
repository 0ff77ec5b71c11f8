"""Administering the allocation list's slots (statistician and administrator).

Two actions, each needing a reason and a typed confirmation and each audited:

- take a free slot out of use (say, a sealed envelope of that slot was opened
  by mistake): :func:`do_mark_slot_unavailable`, undone by
  :func:`do_restore_slot`;
- allocate a subject by hand to a given free slot of their site and stratum
  (the allocation made from the emergency envelopes while hepatrial was down,
  entered afterwards): :func:`do_allocate_manually`. The same blockers as
  randomization apply (confirmed eligible, current consent, not randomized).

The typed confirmation is the slot's reference (``SYSU3-ACLF-7``) or the
subject's id: the one thing acted on, typed out, so a slip of the mouse on a
long list cannot act on another row.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.enrollment import active_consent
from hepatrial.services.errors import ActionError, Conflict, Invalid
from hepatrial.services.randomization import randomization_blockers, stratum_of
from hepatrial.web.trial.models import AllocationSlot, Subject

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
    return AllocationSlot.objects.select_for_update(of=("self",)).select_related("site").get(pk=slot.pk)


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


@transaction.atomic
def do_allocate_manually(
    actor: Actor, subject: Subject, slot: AllocationSlot, randomized_on: date, reason: str, confirmation: str
) -> AllocationSlot:
    """Allocate ``subject`` to ``slot`` by hand; day 0 becomes ``randomized_on``."""
    require(actor, "manage_allocation")
    slot = _locked(slot)
    reason = _reason(reason)
    _confirm(confirmation, subject.subject_id)
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
    today = timezone.localdate(timezone.now(), tz)
    if randomized_on is None or randomized_on > today:
        raise Invalid(_("The randomization date cannot be in the future."), field="randomized_on")
    consent = active_consent(subject.screening)
    if consent is not None and randomized_on < timezone.localdate(consent.obtained_at, tz):
        raise Invalid(_("The randomization date is before consent (%(d)s).") % {"d": timezone.localdate(consent.obtained_at, tz)},
                      field="randomized_on")  # fmt: skip
    now = timezone.now()
    changed = AllocationSlot.objects.filter(pk=slot.pk, subject__isnull=True, available=True).update(
        subject=subject, allocated_at=now, allocated_by=actor.user, manual=True
    )
    if changed != 1:
        raise Conflict(_("Slot %(s)s is already allocated or out of use.") % {"s": slot_reference(slot)})
    old_day0 = subject.anchor_date
    Subject.objects.filter(pk=subject.pk).update(anchor_date=randomized_on)
    audit = {"site": subject.site, "subject_id": subject.subject_id}
    slot.refresh_from_db()
    # the slot's event carries no site: site staff never read it in their audit trail (concealment)
    record(actor, "allocate_manually", slot, new={"arm": slot.arm, "slot": slot_reference(slot), "randomized_on": randomized_on},
           reason=reason, subject_id=subject.subject_id)  # fmt: skip
    record(actor, "allocate_manually", subject, field="anchor_date", old=old_day0, new=randomized_on,
           reason=_("day 0 is the randomization date"), **audit)  # fmt: skip
    return slot
