"""The allocation list page: the statistician and administrators only; taking
a slot out of use and allocating by hand need a reason and the typed
confirmation, and show in the list and the audit trail."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils import timezone
from personas import PASSWORD, import_allocation_list

from hepatrial.web.trial.models import AllocationSlot, AuditEvent


def test_only_the_statistician_and_admin_see_the_list(client, personas, subject, tmp_path):
    import_allocation_list(personas, tmp_path)
    for name, status in [("coordinator_a", 403), ("investigator_a", 403), ("monitor_a", 403), ("data_manager", 403),
                         ("statistician", 200), ("admin", 200)]:  # fmt: skip
        client.logout()
        assert client.login(username=name, password=PASSWORD)
        response = client.get("/allocation/")
        assert response.status_code == status, name
        home = client.get("/").content.decode()
        assert ('href="/allocation/"' in home) == (status == 200), name
    page = client.get("/allocation/?site=SYSU3&stratum=ACLF").content.decode()
    assert 'id="slot-SYSU3-ACLF-1"' in page and 'id="slot-SYSU3-ALF-1"' not in page


def test_take_a_slot_out_of_use_and_allocate_by_hand(client, personas, subject, tmp_path):
    import_allocation_list(personas, tmp_path)
    assert client.login(username="statistician", password=PASSWORD)
    post = {"action": "unavailable", "slot": "SYSU3-ACLF-1", "reason": "envelope opened", "confirmation": "SYSU3-ACLF-"}
    response = client.post("/allocation/", post)
    assert response.status_code == 422 and "Type SYSU3-ACLF-1 exactly to confirm." in response.content.decode()
    assert AllocationSlot.objects.get(site__code="SYSU3", stratum="ACLF", sequence=1).available
    response = client.post("/allocation/", {**post, "confirmation": "SYSU3-ACLF-1"})
    assert response.status_code == 302
    page = client.get("/allocation/").content.decode()
    assert "out of use: envelope opened" in page

    site_now = timezone.localtime(timezone.now(), ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    manual = {"action": "manual", "subject_id": subject.subject_id, "slot": "SYSU3-ACLF-2",
              "randomized_at": site_now, "reason": "downtime envelope", "confirmation": "nope"}  # fmt: skip
    response = client.post("/allocation/", manual)
    assert response.status_code == 422 and 'value="downtime envelope"' in response.content.decode()  # kept for the retry
    for bad in ("SYSU3-ACLF-²", "SYSU3-ACLF-", "-ACLF-2", "SYSU3-XYZ-2", "x" * 300):
        response = client.post("/allocation/", {**manual, "slot": bad, "confirmation": f"SYSU3-001 {bad}"})
        assert response.status_code == 422 and "No slot" in response.content.decode(), bad
    response = client.post("/allocation/", {**manual, "confirmation": "SYSU3-001 SYSU3-ACLF-2"})
    assert response.status_code == 302
    slot = AllocationSlot.objects.get(subject=subject)
    assert (slot.reference, slot.manual) == ("SYSU3-ACLF-2", True)
    assert "(by hand)" in client.get("/allocation/").content.decode()
    assert AuditEvent.objects.filter(action="allocate_manually", route="web", site=None).count() == 1
    assert AuditEvent.objects.filter(action="randomize", route="web", field="anchor_date").count() == 1
    # the coordinator sees the arm, never the slot
    client.logout()
    assert client.login(username="coordinator_a", password=PASSWORD)
    page = client.get(f"/subjects/{subject.subject_id}/").content.decode()
    assert 'id="allocation"' in page and "SYSU3-ACLF-2" not in page


def test_the_audit_trail_conceals_the_slot_from_site_staff(client, personas, subject, tmp_path):
    from hepatrial.services.allocation_admin import do_mark_slot_unavailable
    from hepatrial.services.randomization import do_randomize

    import_allocation_list(personas, tmp_path)
    free = AllocationSlot.objects.get(site__code="SYSU3", stratum="ACLF", sequence=5)
    do_mark_slot_unavailable(personas.actor("admin"), free, "envelope torn", "SYSU3-ACLF-5")
    slot = do_randomize(personas.actor("coordinator_a"), subject)
    assert client.login(username="coordinator_a", password=PASSWORD)
    page = client.get("/audit/").content.decode()
    csv_text = client.get("/audit.csv").content.decode()
    for text in (page, csv_text):
        assert "allocation (concealed)" in text
        assert f"AllocationSlot {slot.pk}" not in text
        assert "envelope torn" not in text and "SYSU3-ACLF-5" not in text
    client.logout()
    assert client.login(username="admin", password=PASSWORD)
    page = client.get("/audit/").content.decode()
    assert f"AllocationSlot {slot.pk}" in page and "envelope torn" in page
