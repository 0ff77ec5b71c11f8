"""Locks and electronic signatures (issue #8, 21 CFR 11.10(e), 11.50, 11.70, 11.200).

A data manager locks a record, a visit or the database with a reason; what a lock covers
refuses every write until it is unlocked with a reason; both are audited. An investigator
signs a visit or a casebook by entering the password again; the signature carries the
printed name, time and meaning and the hash of what was signed; a later change voids it."""

from __future__ import annotations

import pytest
from builders import example
from personas import PASSWORD

from hepatrial.services.audit import verify_chain
from hepatrial.services.errors import Invalid, Locked, NotAllowed
from hepatrial.services.forms import do_save_form
from hepatrial.services.locks import do_lock, do_unlock, lock_on
from hepatrial.services.queries import do_answer_query, do_raise_query
from hepatrial.services.screening import do_screen
from hepatrial.services.signatures import (
    content_hash,
    content_hashes,
    do_sign,
    needs_signing,
    signature_states,
)
from hepatrial.web.trial.models import AuditEvent, FormEntry, Lock, Signature


def labs(subject, bilirubin="250"):
    return {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00", "total_bilirubin": bilirubin, "inr": "1.9"}


def save(personas, subject, bilirubin="250", *, visit="day_0", form="lab_panel", values=None, who="coordinator_a"):
    entry = FormEntry.objects.filter(subject=subject, visit_id=visit, form_id=form).first()
    return do_save_form(personas.actor(who), subject, visit, form, values or labs(subject, bilirubin),
                        expected_version=entry.version if entry else None, visit_date=subject.anchor_date,
                        reason="correction" if entry else "")  # fmt: skip


def test_a_locked_visit_refuses_saves_until_unlocked_with_a_reason(personas, subject):
    first = save(personas, subject).entry
    dm = personas.actor("data_manager")
    with pytest.raises(Invalid) as no_reason:
        do_lock(dm, "visit", subject=subject, visit_id="day_0", reason="  ")
    assert no_reason.value.field == "reason"
    with pytest.raises(NotAllowed):
        do_lock(personas.actor("coordinator_a"), "visit", subject=subject, visit_id="day_0", reason="source verified")
    lock = do_lock(dm, "visit", subject=subject, visit_id="day_0", reason="source data verified")
    with pytest.raises(Locked) as refused:
        save(personas, subject, "300")
    assert "Visit day_0 of SYSU3-001 is locked" in refused.value.message and "source data verified" in refused.value.message
    assert refused.value.status == 409
    assert FormEntry.objects.get(pk=first.pk).data["total_bilirubin"] == 250.0  # nothing changed
    with pytest.raises(Invalid):  # the same lock twice
        do_lock(dm, "visit", subject=subject, visit_id="day_0", reason="again")
    with pytest.raises(Invalid) as no_reason:
        do_unlock(dm, lock, reason="")
    do_unlock(dm, lock, reason="correction requested by the monitor (query 12)")
    assert save(personas, subject, "300").entry.data["total_bilirubin"] == 300.0
    with pytest.raises(Invalid):
        do_unlock(dm, lock, reason="twice")
    events = {e.action: e for e in AuditEvent.objects.filter(action__in=("lock", "unlock"))}
    assert events["lock"].reason == "source data verified" and events["lock"].new["visit"] == "day_0"
    assert events["unlock"].reason.startswith("correction requested") and events["lock"].subject_id == "SYSU3-001"
    assert verify_chain().ok


def test_a_record_lock_covers_that_form_only(personas, subject):
    entry = save(personas, subject).entry
    do_lock(personas.actor("data_manager"), "record", entry=entry, reason="verified")
    with pytest.raises(Locked, match="Form day_0/lab_panel of SYSU3-001 is locked"):
        save(personas, subject, "300")
    with pytest.raises(Locked):  # queries on it too
        do_raise_query(personas.actor("monitor_a"), entry, "inr", "Is this right?")
    # another form of the same visit is not covered
    smt = do_save_form(personas.actor("coordinator_a"), subject, "day_0", "smt_given", {}, expected_version=None,
                       visit_date=subject.anchor_date, complete=False)  # fmt: skip
    assert smt.entry.pk != entry.pk
    assert lock_on(subject, "day_0") is None  # the visit itself is not locked
    assert lock_on(subject, "day_0", entry).scope == Lock.Scope.RECORD

def test_a_locked_database_refuses_every_write_but_reading_locks_signatures_and_accounts(personas, subject):
    from hepatrial.services.accounts import do_create_token

    entry = save(personas, subject).entry
    query = do_raise_query(personas.actor("monitor_a"), entry, "inr", "Is this right?")
    dm = personas.actor("data_manager")
    lock = do_lock(dm, "database", reason="final database lock for the primary analysis")
    with pytest.raises(Locked, match="The database is locked"):
        save(personas, subject, "300")
    with pytest.raises(Locked):
        do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"))
    with pytest.raises(Locked):
        do_answer_query(personas.actor("coordinator_a"), query, "Checked against the source.")
    # what still happens: signing, API tokens, the locks themselves
    do_sign(personas.actor("investigator_a"), subject, visit_id="day_0", meaning="approval", password=PASSWORD)
    do_create_token(personas.actor("monitor_a"), "read-only export")
    do_unlock(dm, lock, reason="late lab results arrived")
    assert save(personas, subject, "300").entry.version == 2
    assert verify_chain().ok


def test_a_signature_needs_the_password_and_records_name_time_meaning_and_hash(personas, subject):
    save(personas, subject)
    investigator = personas.actor("investigator_a")
    with pytest.raises(NotAllowed) as wrong:
        do_sign(investigator, subject, visit_id="day_0", meaning="approval", password="not-my-password")
    assert wrong.value.field == "password" and not Signature.objects.exists()
    failed = AuditEvent.objects.get(action="signature_failed")  # kept, though the signing was refused
    assert failed.username == "investigator_a" and "SYSU3-001 day_0" in failed.reason
    with pytest.raises(NotAllowed):
        do_sign(personas.actor("coordinator_a"), subject, visit_id="day_0", meaning="approval", password=PASSWORD)
    with pytest.raises(Invalid, match="nothing to sign"):
        do_sign(investigator, subject, visit_id="day_7", meaning="approval", password=PASSWORD)
    with pytest.raises(Invalid):
        do_sign(investigator, subject, visit_id="day_0", meaning="because", password=PASSWORD)
    signature = do_sign(investigator, subject, visit_id="day_0", meaning="approval", password=PASSWORD)
    assert (signature.printed_name, signature.meaning, signature.entries) == ("investigator_a", "approval", 1)
    assert signature.content_hash == content_hash(subject, "day_0")[0] and len(signature.content_hash) == 64
    event = AuditEvent.objects.get(action="sign")
    assert event.new["content_hash"] == signature.content_hash and event.new["meaning"] == "approval"
    assert [s.state for s in signature_states(subject)] == ["valid"]


def test_a_change_voids_the_visits_and_the_casebooks_signatures_only(personas, subject):
    save(personas, subject)
    save(personas, subject, visit="day_7")
    investigator = personas.actor("investigator_a")
    day0 = do_sign(investigator, subject, visit_id="day_0", meaning="approval", password=PASSWORD)
    day7 = do_sign(investigator, subject, visit_id="day_7", meaning="review", password=PASSWORD)
    casebook = do_sign(investigator, subject, meaning="responsibility", password=PASSWORD)
    assert casebook.entries == 2
    save(personas, subject, "300")  # day 0 changes
    for s in (day0, day7, casebook):
        s.refresh_from_db()
    assert day0.voided_at and casebook.voided_at and day7.voided_at is None
    assert day0.void_reason == "day_0/lab_panel changed by coordinator_a"
    assert sorted(needs_signing(subject)) == ["", "day_0"]
    assert AuditEvent.objects.filter(action="void_signature").count() == 2
    # signing again clears the flag
    again = do_sign(investigator, subject, visit_id="day_0", meaning="approval", password=PASSWORD)
    assert needs_signing(subject) == [""]
    assert [(s.signature.pk, s.state) for s in signature_states(subject)] == [
        (again.pk, "valid"), (casebook.pk, "void"), (day7.pk, "valid"), (day0.pk, "void")]


def test_the_hashes_of_several_visits_from_one_query_are_each_visits_own(personas, subject):
    """The subject's page checks every signature with one query (content_hashes), not one a visit."""
    save(personas, subject)
    save(personas, subject, visit="day_7")
    save(personas, subject, "260", visit="day_14")
    expected = {visit: content_hash(subject, visit)[0] for visit in ("", "day_0", "day_7", "day_14", "day_28")}
    assert content_hashes(subject, list(expected)) == expected and len(set(expected.values())) == 5
    # signed (content_hash) and checked (content_hashes) the same way: valid at once
    investigator = personas.actor("investigator_a")
    for visit in ("day_7", ""):
        do_sign(investigator, subject, visit_id=visit, meaning="approval", password=PASSWORD)
    assert [s.state for s in signature_states(subject)] == ["valid", "valid"]


def test_a_change_that_bypassed_the_application_shows_the_signature_broken(personas, subject):
    entry = save(personas, subject).entry
    do_sign(personas.actor("investigator_a"), subject, visit_id="day_0", meaning="approval", password=PASSWORD)
    FormEntry.objects.filter(pk=entry.pk).update(data={**entry.data, "total_bilirubin": 99.0})
    assert [s.state for s in signature_states(subject)] == ["broken"]
