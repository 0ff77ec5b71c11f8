"""Consent, withdrawal and enrollment: the sequence rules (21 CFR 11.10(f)) and the audit rows."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import example
from django.utils import timezone

from hepatrial.services.enrollment import (
    active_consent,
    do_enroll,
    do_record_consent,
    do_withdraw_consent,
    needs_reconsent,
)
from hepatrial.services.errors import ActionError, Invalid, NotAllowed
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.models import AuditEvent, Subject


@pytest.fixture
def eligible(personas):
    screening = do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"))
    return screening


def consent(personas, screening, version="1.0", minutes_ago=5):
    return do_record_consent(personas.actor("coordinator_a"), screening, version, timezone.now() - timedelta(minutes=minutes_ago))


def test_enrollment_needs_a_confirmed_decision_and_a_current_consent(personas, eligible):
    coordinator = personas.actor("coordinator_a")
    with pytest.raises(ActionError, match="confirm eligibility"):
        do_enroll(coordinator, eligible)
    do_decide_eligibility(personas.actor("investigator_a"), eligible, "confirmed")
    with pytest.raises(ActionError, match="No consent"):
        do_enroll(coordinator, eligible)
    consent(personas, eligible)
    subject = do_enroll(coordinator, eligible)
    assert subject.subject_id == "SYSU3-001"
    assert subject.anchor_date == timezone.localdate(subject.enrolled_at, timezone=ZoneInfo("Asia/Shanghai"))
    with pytest.raises(ActionError, match="Already enrolled as SYSU3-001"):
        do_enroll(coordinator, eligible)
    event = AuditEvent.objects.get(action="enroll")
    assert event.subject_id == "SYSU3-001" and event.username == "coordinator_a"


def test_subject_numbers_count_per_site(personas):
    ids = []
    for _ in range(3):
        s = do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"))
        do_decide_eligibility(personas.actor("investigator_a"), s, "confirmed")
        consent(personas, s)
        ids.append(do_enroll(personas.actor("coordinator_a"), s).subject_id)
    assert ids == ["SYSU3-001", "SYSU3-002", "SYSU3-003"]
    assert Subject.objects.filter(site=personas.site_b).count() == 0


def test_consent_rules(personas, eligible):
    with pytest.raises(Invalid, match="Unknown consent document version"):
        consent(personas, eligible, version="9.9")
    with pytest.raises(Invalid, match="in the future"):
        do_record_consent(personas.actor("coordinator_a"), eligible, "1.0", timezone.now() + timedelta(hours=1))
    with pytest.raises(NotAllowed):
        do_record_consent(personas.actor("coordinator_b"), eligible, "1.0", timezone.now())
    given = consent(personas, eligible)
    assert active_consent(eligible) == given and not needs_reconsent(eligible)


def test_withdrawal_blocks_enrollment_and_is_audited_with_its_reason(personas, eligible):
    do_decide_eligibility(personas.actor("investigator_a"), eligible, "confirmed")
    given = consent(personas, eligible, minutes_ago=60)
    with pytest.raises(Invalid, match="needs a reason"):
        do_withdraw_consent(personas.actor("coordinator_a"), given, timezone.now(), "no_further_data", " ")
    do_withdraw_consent(personas.actor("coordinator_a"), given, timezone.now() - timedelta(minutes=1), "no_further_data", "changed mind")
    assert active_consent(eligible) is None
    with pytest.raises(ActionError, match="No consent"):
        do_enroll(personas.actor("coordinator_a"), eligible)
    event = AuditEvent.objects.get(action="withdraw_consent")
    assert event.reason == "changed mind" and event.new["scope"] == "no_further_data"


@pytest.fixture
def amended_protocol(tmp_path, settings):
    """The protocol with a consent document 2.0 added (a protocol amendment)."""
    from hepatrial.core.protocol import packaged_protocols
    from hepatrial.services.protocol import current_protocol

    text = packaged_protocols()["NCT05940610"].read_text(encoding="utf-8")
    anchor = "\nforms:\n"  # the section after consent_documents: the amendment goes last
    assert text.index("consent_documents:") < text.index(anchor)
    amended = text.replace(anchor, "\n" + AMENDMENT + anchor, 1)
    path = tmp_path / "amended.yaml"
    path.write_text(amended, encoding="utf-8")
    current_protocol.cache_clear()
    settings.HEPATRIAL_PROTOCOL = str(path)
    yield path
    current_protocol.cache_clear()


AMENDMENT = """  - version: "2.0"
    title: Informed consent, amendment 1
    effective: 2024-01-15
    current: true
"""


def test_an_old_consent_version_needs_re_consent(personas, eligible, amended_protocol):
    """A new consent version in the protocol flags subjects consented to the old one."""
    from hepatrial.services.protocol import current_protocol

    assert current_protocol().current_consent_version == "2.0"
    do_decide_eligibility(personas.actor("investigator_a"), eligible, "confirmed")
    consent(personas, eligible, version="1.0")
    assert needs_reconsent(eligible)
    with pytest.raises(ActionError, match="Consent is to version 1.0; the current version is 2.0"):
        do_enroll(personas.actor("coordinator_a"), eligible)
    consent(personas, eligible, version="2.0", minutes_ago=1)
    assert not needs_reconsent(eligible)
    assert do_enroll(personas.actor("coordinator_a"), eligible).subject_id == "SYSU3-001"


def test_withdrawing_after_a_re_consent_leaves_no_consent(personas, eligible, amended_protocol):
    """Review finding: the superseded 1.0 consent must not come back as 'active'."""
    do_decide_eligibility(personas.actor("investigator_a"), eligible, "confirmed")
    consent(personas, eligible, version="1.0", minutes_ago=60)
    newer = consent(personas, eligible, version="2.0", minutes_ago=30)
    do_enroll(personas.actor("coordinator_a"), eligible)
    do_withdraw_consent(personas.actor("coordinator_a"), newer, timezone.now() - timedelta(minutes=1), "no_further_data", "moved away")
    assert active_consent(eligible) is None and not needs_reconsent(eligible)
    assert eligible.consents.filter(withdrawn_at__isnull=True).count() == 0
    assert AuditEvent.objects.filter(action="withdraw_consent").count() == 2  # both versions, each audited


def test_the_same_hospital_record_number_is_not_enrolled_twice(personas):
    ids = []
    for _ in range(2):
        s = do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"),
                      {"name": "Li Na", "hospital_record_number": "HRN-1"})  # fmt: skip
        do_decide_eligibility(personas.actor("investigator_a"), s, "confirmed")
        consent(personas, s)
        ids.append(s)
    assert do_enroll(personas.actor("coordinator_a"), ids[0]).subject_id == "SYSU3-001"
    with pytest.raises(ActionError, match="already enrolled as SYSU3-001"):
        do_enroll(personas.actor("coordinator_a"), ids[1])


def test_a_consent_cannot_predate_its_document_or_be_out_of_range(personas, eligible):
    from datetime import datetime, timezone as dt_tz

    with pytest.raises(Invalid, match="cannot predate the document"):
        do_record_consent(personas.actor("coordinator_a"), eligible, "1.0", datetime(2023, 6, 30, tzinfo=dt_tz.utc))
    with pytest.raises(Invalid):
        do_record_consent(personas.actor("coordinator_a"), eligible, "1.0", datetime(1, 1, 1, tzinfo=dt_tz.utc))
