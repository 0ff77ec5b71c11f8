"""Locks and signatures in the browser's pages and through the API: a data manager locks a
visit, a record and the database; every route refuses what a lock covers (409, the lock's
reason shown); an investigator signs with the password; a change shows the visit as needing
a new signature."""

from __future__ import annotations

import json

from django.test import Client
from personas import PASSWORD, SignedInClient

from hepatrial.services.accounts import do_create_token
from hepatrial.web.trial.models import FormEntry, Lock, Signature

F = "/subjects/SYSU3-001/visits/day_0/lab_panel/"


def as_(personas, name):
    client = SignedInClient()
    client.force_login(personas.users[name])
    return client


def lab_post(subject, bilirubin="250", version=""):
    return {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00", "total_bilirubin": bilirubin, "inr": "1.9",
            "version": version, "visit_date": subject.anchor_date.isoformat(), "reason": "correction" if version else ""}  # fmt: skip


def test_a_locked_visit_refuses_the_form_on_the_web_and_the_api(personas, subject):
    coordinator, dm = as_(personas, "coordinator_a"), as_(personas, "data_manager")
    assert coordinator.post(F, lab_post(subject)).status_code == 302
    page = dm.get("/subjects/SYSU3-001/")
    assert b'id="lock-visit"' in page.content and b'id="sign"' not in page.content
    assert dm.post("/subjects/SYSU3-001/lock/", {"scope": "visit", "visit_id": "day_0", "reason": ""}).status_code == 422
    assert dm.post("/subjects/SYSU3-001/lock/", {"scope": "visit", "visit_id": "day_0", "reason": "SDV done"}).status_code == 302
    page = coordinator.get(F)
    assert b'id="lock-banner"' in page.content and b"SDV done" in page.content
    assert b'name="save"' not in page.content  # no save button on a locked form
    refused = coordinator.post(F, lab_post(subject, "300", version="1"))
    assert refused.status_code == 409 and b"is locked" in refused.content
    token = do_create_token(personas.actor("coordinator_a"), "tests")[1]
    api = Client().put("/api/subjects/SYSU3-001/visits/day_0/forms/lab_panel",
                       data=json.dumps({"values": {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00:00+08:00",
                                                   "total_bilirubin": "300", "inr": "1.9"},
                                        "expected_version": 1, "visit_date": subject.anchor_date.isoformat(), "reason": "x"}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert api.status_code == 409 and "is locked" in api.json()["detail"]
    assert FormEntry.objects.get().data["total_bilirubin"] == 250.0
    lock = Lock.objects.get()
    assert dm.post(f"/locks/{lock.pk}/unlock/", {"reason": ""}).status_code == 422
    assert dm.post(f"/locks/{lock.pk}/unlock/", {"reason": "query 3: wrong unit", "next": "/subjects/SYSU3-001/"}).status_code == 302
    assert coordinator.post(F, lab_post(subject, "300", version="1")).status_code == 302


def test_a_record_lock_from_its_form_and_the_database_lock_from_the_locks_page(personas, subject):
    coordinator, dm = as_(personas, "coordinator_a"), as_(personas, "data_manager")
    coordinator.post(F, lab_post(subject))
    assert b'id="lock-record"' in dm.get(F).content
    assert dm.post("/subjects/SYSU3-001/lock/", {"scope": "record", "visit_id": "day_0", "form_id": "lab_panel",
                                                "sequence": "1", "reason": "verified", "next": F}).status_code == 302  # fmt: skip
    assert coordinator.post(F, lab_post(subject, "300", version="1")).status_code == 409
    assert b"Form day_0/lab_panel of SYSU3-001 is locked" in as_(personas, "monitor_a").get("/locks/").content
    # the database
    assert dm.post("/locks/", {"reason": "database lock for the final analysis"}).status_code == 302
    page = coordinator.get("/subjects/SYSU3-001/")
    assert b'id="database-lock"' in page.content
    token = do_create_token(personas.actor("coordinator_a"), "tests")[1]
    from builders import example

    screened = Client().post("/api/screenings", data=json.dumps({"site": "SYSU3", "candidate": example("eligible-aclf")}),
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert screened.status_code == 409 and "The database is locked" in screened.json()["detail"]
    assert b'id="lock-database"' not in dm.get("/locks/").content  # already locked


def test_an_investigator_signs_with_the_password_and_a_change_asks_for_a_new_signature(personas, subject):
    coordinator, investigator = as_(personas, "coordinator_a"), as_(personas, "investigator_a")
    coordinator.post(F, lab_post(subject))
    page = investigator.get("/subjects/SYSU3-001/")
    assert b'id="sign"' in page.content and b'type="password"' in page.content
    wrong = investigator.post("/subjects/SYSU3-001/sign/", {"visit_id": "day_0", "meaning": "approval", "password": "nope"})
    assert wrong.status_code == 403 and b"password is not right" in wrong.content
    signed = investigator.post("/subjects/SYSU3-001/sign/", {"visit_id": "day_0", "meaning": "approval", "password": PASSWORD})
    assert signed.status_code == 302
    page = investigator.get("/subjects/SYSU3-001/").content.decode()
    assert "investigator_a" in page and "Approval: I approve these data as complete and accurate" in page
    assert "signature-valid" in page
    coordinator.post(F, lab_post(subject, "300", version="1"))
    page = investigator.get("/subjects/SYSU3-001/").content.decode()
    assert 'id="needs-signing"' in page and "signature-void" in page and "day_0/lab_panel changed by coordinator_a" in page
    assert Signature.objects.get().voided_at is not None
