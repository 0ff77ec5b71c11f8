"""Slot administration: statistician and admin only, a reason and a typed
confirmation each time, audited; a slot out of use is never claimed; a manual
allocation respects the subject's site, stratum and readiness."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from personas import import_allocation_list

from hepatrial.services.allocation_admin import (
    do_allocate_manually,
    do_mark_slot_unavailable,
    do_restore_slot,
    slot_reference,
)
from hepatrial.services.errors import ActionError, Conflict, Invalid, NotAllowed
from hepatrial.services.randomization import do_randomize, verify_list
from hepatrial.web.trial.models import AllocationSlot, AuditEvent


@pytest.fixture
def imported(personas, tmp_path):
    return import_allocation_list(personas, tmp_path)


def next_free(site, stratum="ACLF"):
    return AllocationSlot.objects.filter(site=site, stratum=stratum, subject__isnull=True, available=True).order_by("sequence").first()


def test_a_slot_out_of_use_is_skipped_by_randomization(personas, subject, imported):
    stat = personas.actor("statistician")
    first = next_free(personas.site_a)
    assert slot_reference(first) == "SYSU3-ACLF-1"
    with pytest.raises(Invalid) as info:
        do_mark_slot_unavailable(stat, first, "envelope 1 opened by mistake", "SYSU3-ACLF-2")
    assert info.value.field == "confirmation" and "Type SYSU3-ACLF-1 exactly" in info.value.message
    with pytest.raises(Invalid) as info:
        do_mark_slot_unavailable(stat, first, "  ", "SYSU3-ACLF-1")
    assert info.value.field == "reason"
    with pytest.raises(NotAllowed):
        do_mark_slot_unavailable(personas.actor("coordinator_a"), first, "x", "SYSU3-ACLF-1")
    do_mark_slot_unavailable(stat, first, "envelope 1 opened by mistake", "SYSU3-ACLF-1")
    first.refresh_from_db()
    assert (first.available, first.unavailable_reason) == (False, "envelope 1 opened by mistake")
    event = AuditEvent.objects.get(action="mark_slot_unavailable")
    assert (event.username, event.reason, event.old, event.new) == ("statistician", "envelope 1 opened by mistake", True, False)
    with pytest.raises(Conflict):
        do_mark_slot_unavailable(stat, first, "again", "SYSU3-ACLF-1")

    slot = do_randomize(personas.actor("coordinator_a"), subject)
    assert slot.sequence == 2  # the slot out of use was skipped
    assert verify_list() == []  # taking a slot out of use does not change the list itself
    do_restore_slot(personas.actor("admin"), first, "mistake undone", "SYSU3-ACLF-1")
    first.refresh_from_db()
    assert first.available and AuditEvent.objects.get(action="restore_slot").old["reason"] == "envelope 1 opened by mistake"


def test_an_allocated_slot_cannot_be_taken_out_of_use(personas, subject, imported):
    slot = do_randomize(personas.actor("coordinator_a"), subject)
    with pytest.raises(Conflict, match="already allocated"):
        do_mark_slot_unavailable(personas.actor("statistician"), slot, "x", slot_reference(slot))


def test_manual_allocation(personas, subject, imported):
    stat = personas.actor("statistician")
    third = AllocationSlot.objects.get(site=personas.site_a, stratum="ACLF", sequence=3)
    when = timezone.now() - timedelta(minutes=1)  # consent was 5 minutes ago
    confirm = "SYSU3-001 SYSU3-ACLF-3"
    with pytest.raises(Invalid) as info:
        do_allocate_manually(stat, subject, third, when, "envelope 3 used during downtime", "SYSU3-001")
    assert info.value.field == "confirmation" and "Type SYSU3-001 SYSU3-ACLF-3 exactly" in info.value.message
    with pytest.raises(Invalid) as info:
        do_allocate_manually(stat, subject, third, timezone.now() + timedelta(minutes=5), "r", confirm)
    assert info.value.field == "randomized_at"
    with pytest.raises(Invalid, match="before consent") as info:
        do_allocate_manually(stat, subject, third, timezone.now() - timedelta(hours=1), "r", confirm)
    wrong = AllocationSlot.objects.get(site=personas.site_b, stratum="ACLF", sequence=1)
    with pytest.raises(Invalid, match="is for site GZ2"):
        do_allocate_manually(stat, subject, wrong, when, "r", "SYSU3-001 GZ2-ACLF-1")
    alf = AllocationSlot.objects.get(site=personas.site_a, stratum="ALF", sequence=1)
    with pytest.raises(Invalid, match="stratum ALF"):
        do_allocate_manually(stat, subject, alf, when, "r", "SYSU3-001 SYSU3-ALF-1")
    with pytest.raises(NotAllowed):
        do_allocate_manually(personas.actor("investigator_a"), subject, third, when, "r", confirm)

    slot = do_allocate_manually(stat, subject, third, when, "envelope 3 used during downtime", confirm)
    subject.refresh_from_db()
    site_date = timezone.localdate(when, ZoneInfo("Asia/Shanghai"))
    assert (slot.subject, slot.manual, slot.allocated_at, subject.anchor_date) == (subject, True, when, site_date)
    event = AuditEvent.objects.filter(action="allocate_manually", model="AllocationSlot").get()
    assert event.new["slot"] == "SYSU3-ACLF-3" and event.reason == "envelope 3 used during downtime" and event.site is None
    with pytest.raises(ActionError, match="already randomized"):
        do_randomize(personas.actor("coordinator_a"), subject)
    assert next_free(personas.site_a).sequence == 1  # the slots before it stay for the next subjects


def test_manual_allocation_keeps_the_randomization_blockers(personas, subject, imported):
    from hepatrial.services.enrollment import active_consent, do_withdraw_consent

    consent = active_consent(subject.screening)
    do_withdraw_consent(personas.actor("coordinator_a"), consent, timezone.now(), "no_further_treatment", "wish")
    slot = next_free(personas.site_a)
    with pytest.raises(ActionError, match="No consent is recorded"):
        do_allocate_manually(personas.actor("statistician"), subject, slot, timezone.now(), "r", f"SYSU3-001 {slot.reference}")
    slot.refresh_from_db()
    assert slot.subject is None and not AuditEvent.objects.filter(action="allocate_manually").exists()
