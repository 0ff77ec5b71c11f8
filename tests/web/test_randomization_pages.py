"""Randomizing from the subject page and the API: the arm, time and who are
shown; the list's order and what remains of it never are (concealment)."""

from __future__ import annotations

import json
import re

import pytest

from hepatrial.core.randomization import make_list, write_list
from hepatrial.services.protocol import current_protocol
from hepatrial.services.randomization import do_import_list
from hepatrial.web.trial.models import AllocationSlot, AuditEvent
from personas import PASSWORD


@pytest.fixture
def imported(tmp_path, personas):
    current_protocol.cache_clear()
    protocol = current_protocol()
    path = tmp_path / "allocation.csv"
    write_list(make_list(protocol.randomization, sites=["SYSU3", "GZ2"], seed=99991234567, protocol_id=protocol.id), path)
    return do_import_list(personas.actor("statistician"), path)


def test_randomize_on_the_subject_page(client, personas, subject, imported):
    assert client.login(username="coordinator_a", password=PASSWORD)
    page = client.get(f"/subjects/{subject.subject_id}/").content.decode()
    assert 'id="randomize"' in page
    response = client.post(f"/subjects/{subject.subject_id}/randomize/")
    assert response.status_code == 302
    slot = AllocationSlot.objects.get(subject=subject)
    page = client.get(f"/subjects/{subject.subject_id}/").content.decode()
    label = {"msc_ev": "MSC-EV group", "control": "Non-MSC-EV group"}[slot.arm]
    assert re.search(rf'id="allocation">Arm: <strong>{label}</strong> — randomized .* by coordinator_a', page)
    assert 'id="randomize"' not in page  # once only
    # concealment: no slot number, block, or count of what remains appears
    for secret in ("sequence", f"block {slot.block}", "remaining", "slots left"):
        assert secret not in page.lower()
    assert AuditEvent.objects.filter(action="randomize", route="web", username="coordinator_a").count() == 2


def test_randomize_through_the_api_answers_the_arm_only(client, personas, subject, imported):
    assert client.login(username="investigator_a", password=PASSWORD)
    csrf = client.get("/api/me").json()["csrf_token"]
    response = client.post(f"/api/subjects/{subject.subject_id}/randomize", HTTP_X_CSRFTOKEN=csrf,
                           content_type="application/json", data="{}")  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body["allocation"]) == {"arm", "arm_label", "allocated_at", "allocated_by"}
    assert body["allocation"]["allocated_by"] == "investigator_a"
    text = json.dumps(body)
    assert '"sequence"' not in text and '"block"' not in text
    again = client.post(f"/api/subjects/{subject.subject_id}/randomize", HTTP_X_CSRFTOKEN=csrf,
                        content_type="application/json", data="{}")  # fmt: skip
    assert again.status_code == 400 and "already randomized" in again.json()["detail"]


def test_a_subject_not_ready_is_told_why(client, personas, subject, imported):
    from datetime import timedelta

    from django.utils import timezone

    from hepatrial.services.enrollment import do_withdraw_consent

    consent = subject.screening.consents.get()
    do_withdraw_consent(personas.actor("coordinator_a"), consent, timezone.now() - timedelta(minutes=1),
                        "no_further_treatment", "declined further infusions")  # fmt: skip
    assert client.login(username="coordinator_a", password=PASSWORD)
    page = client.get(f"/subjects/{subject.subject_id}/").content.decode()
    assert 'id="randomize"' not in page and "No consent is recorded (or it was withdrawn)." in page
    assert client.post(f"/subjects/{subject.subject_id}/randomize/").status_code == 400
