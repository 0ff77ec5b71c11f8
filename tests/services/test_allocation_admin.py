"""Slot administration: statistician and admin only, a reason and a typed
confirmation each time, audited; a slot out of use is never claimed; a manual
allocation respects the subject's site, stratum and readiness."""

from __future__ import annotations

from datetime import timedelta

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
    yesterday = timezone.localdate() - timedelta(days=1)
    with pytest.raises(Invalid) as info:
        do_allocate_manually(stat, subject, third, yesterday, "envelope 3 used during downtime", "SYSU3-002")
    assert info.value.field == "confirmation"
    with pytest.raises(Invalid) as info:
        do_allocate_manually(stat, subject, third, timezone.localdate() + timedelta(days=1), "r", subject.subject_id)
    assert info.value.field == "randomized_on"
    wrong = AllocationSlot.objects.get(site=personas.site_b, stratum="ACLF", sequence=1)
    with pytest.raises(Invalid, match="is for site GZ2") as info:
        do_allocate_manually(stat, subject, wrong, timezone.localdate(), "r", subject.subject_id)
    alf = AllocationSlot.objects.get(site=personas.site_a, stratum="ALF", sequence=1)
    with pytest.raises(Invalid, match="stratum ALF"):
        do_allocate_manually(stat, subject, alf, timezone.localdate(), "r", subject.subject_id)
    with pytest.raises(NotAllowed):
        do_allocate_manually(personas.actor("investigator_a"), subject, third, timezone.localdate(), "r", subject.subject_id)

    today = timezone.localdate()
    slot = do_allocate_manually(stat, subject, third, today, "envelope 3 used during downtime", subject.subject_id)
    subject.refresh_from_db()
    assert (slot.subject, slot.manual, subject.anchor_date) == (subject, True, today)
    event = AuditEvent.objects.filter(action="allocate_manually", model="AllocationSlot").get()
    assert event.new["slot"] == "SYSU3-ACLF-3" and event.reason == "envelope 3 used during downtime"
    with pytest.raises(ActionError, match="already randomized"):
        do_randomize(personas.actor("coordinator_a"), subject)
    assert next_free(personas.site_a).sequence == 1  # the slots before it stay for the next subjects


def test_manual_allocation_keeps_the_randomization_blockers(personas, subject, imported):
    from hepatrial.services.enrollment import active_consent, do_withdraw_consent

    consent = active_consent(subject.screening)
    do_withdraw_consent(personas.actor("coordinator_a"), consent, timezone.now(), "no_further_treatment", "wish")
    slot = next_free(personas.site_a)
    with pytest.raises(ActionError, match="No consent is recorded"):
        do_allocate_manually(personas.actor("statistician"), subject, slot, timezone.localdate(), "r", subject.subject_id)
    slot.refresh_from_db()
    assert slot.subject is None and not AuditEvent.objects.filter(action="allocate_manually").exists()
