"""Safety actions: the adverse event log, the 24-hour SAE clock (with a frozen
clock: time-machine), SAE reports, alerts e-mailed once, and stopping rules
that pause dosing for every subject until the DSMB's decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from hepatrial.services.dosing import subject_arm
from hepatrial.services.errors import ActionError, Invalid, NotAllowed
from hepatrial.services.forms import do_save_form
from hepatrial.services.safety import (
    do_record_dsmb_decision,
    do_submit_sae_report,
    dosing_halt,
    raise_overdue_alerts,
    sae_clock,
)
from hepatrial.web.trial.models import AuditEvent, SafetyAlert, StoppingRuleTrip

SHANGHAI = ZoneInfo("Asia/Shanghai")


def report_ae(personas, subject, seq=1, *, grade="3", serious=False, term="Infusion related reaction", aware=None,
              relationship="probable", outcome="recovering", onset=None, version=None, reason=""):  # fmt: skip
    onset = onset or subject.anchor_date
    values = {"term": term, "onset_date": onset.isoformat(), "grade": grade, "serious": serious,
              "relationship": relationship, "outcome": outcome}  # fmt: skip
    if serious:
        values.update(sae_hospitalization=True, awareness_datetime=(aware or timezone.now()).isoformat())
    if outcome == "fatal":
        values.update(sae_death=True)
    return do_save_form(personas.actor("investigator_a"), subject, "adverse_events", "adverse_event", values,
                        expected_version=version, visit_date=timezone.localdate(timezone=SHANGHAI), sequence=seq,
                        reason=reason)  # fmt: skip


def give_dose(personas, subject, visit_id, day):
    on = subject.anchor_date + timedelta(days=day)
    product, particles = {"msc_ev": ("msc_ev", "1e10"), "control": ("saline", "")}[subject_arm(subject)]
    values = {"administered": "yes", "product": product, "lot_number": "L", "particle_count": particles, "volume_ml": "100",
              "start_datetime": f"{on.isoformat()}T09:00+08:00"}  # fmt: skip
    return do_save_form(personas.actor("coordinator_a"), subject, visit_id, "dosing", values, expected_version=None, visit_date=on)


def test_a_serious_event_starts_the_24_hour_clock(personas, randomized):
    aware = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
    with time_machine.travel(aware + timedelta(hours=1), tick=False):
        entry = report_ae(personas, randomized, serious=True, aware=aware).entry
        clock = sae_clock(entry)
        assert (clock.due_at, clock.state) == (aware + timedelta(hours=24), "pending")
        assert clock.remaining == timedelta(hours=23)
        alert = SafetyAlert.objects.get(kind="sae_new")
        assert "SYSU3-001" in alert.text and "Infusion related reaction, grade 3" in alert.text
    with time_machine.travel(aware + timedelta(hours=24), tick=False):
        assert sae_clock(entry).state == "pending"  # due at 24 h exactly: not yet overdue
        assert raise_overdue_alerts() == []
    with time_machine.travel(aware + timedelta(hours=24, seconds=1), tick=False):
        assert sae_clock(entry).state == "overdue"
        [overdue] = raise_overdue_alerts()
        assert "was due within 24 hours" in overdue.text
        assert raise_overdue_alerts() == []  # once only
        do_submit_sae_report(personas.actor("investigator_a"), entry, "initial", "Rigors and hypotension; admitted.")
        assert sae_clock(entry).state == "reported_late"


def test_reported_in_time(personas, randomized):
    entry = report_ae(personas, randomized, serious=True).entry
    report = do_submit_sae_report(personas.actor("coordinator_a"), entry, "initial", "Admitted for observation.")
    assert sae_clock(entry).state == "reported" and report.form_version == entry.version
    with pytest.raises(ActionError, match="submit a follow-up"):
        do_submit_sae_report(personas.actor("coordinator_a"), entry, "initial", "again")
    follow = do_submit_sae_report(personas.actor("coordinator_a"), entry, "follow_up", "Discharged on day 3.")
    assert follow.follows == report
    with pytest.raises(ActionError, match="outcome is fatal"):
        do_submit_sae_report(personas.actor("coordinator_a"), entry, "death", "x")
    with pytest.raises(NotAllowed):
        do_submit_sae_report(personas.actor("monitor_a"), entry, "follow_up", "x")
    with pytest.raises(Invalid):
        do_submit_sae_report(personas.actor("coordinator_a"), entry, "follow_up", "  ")
    assert AuditEvent.objects.filter(action="submit_sae_report").count() == 2


def test_a_non_serious_event_has_no_clock_and_no_report(personas, randomized):
    entry = report_ae(personas, randomized, grade="2").entry
    assert sae_clock(entry) is None and not SafetyAlert.objects.exists()
    with pytest.raises(ActionError, match="Only a serious"):
        do_submit_sae_report(personas.actor("coordinator_a"), entry, "initial", "x")


def test_alert_mail_goes_out_once_on_commit(personas, randomized, django_capture_on_commit_callbacks, settings):
    settings.SAFETY_EMAILS = ["pv@sponsor.example"]
    with django_capture_on_commit_callbacks(execute=True):
        report_ae(personas, randomized, serious=True)
    [message] = mail.outbox
    assert message.to == ["pv@sponsor.example"] and "New serious adverse event" in message.subject
    with django_capture_on_commit_callbacks(execute=True):
        report_ae(personas, randomized, seq=1, serious=True, version=1, reason="grade corrected", grade="4")
    assert len(mail.outbox) == 1  # the same SAE: no second mail


def test_two_severe_reactions_in_the_ev_arm_pause_dosing_until_the_dsmb_decides(personas, randomized):
    assert subject_arm(randomized) == "msc_ev"  # the fixture's list (seed 20261126) gives SYSU3's first ACLF slot to MSC-EV
    give_dose(personas, randomized, "day_0", 0)
    report_ae(personas, randomized, 1, grade="3")
    assert dosing_halt() is None
    report_ae(personas, randomized, 2, grade="3", term="Allergic reaction")
    [trip] = StoppingRuleTrip.objects.all()
    assert (trip.rule_id, trip.action, trip.metrics) == ("pause_severe_reactions", "pause_dosing", {"ev_severe_reactions": 2.0})
    assert dosing_halt() == trip and SafetyAlert.objects.filter(kind="rule_tripped").count() == 1
    with pytest.raises(Invalid, match="Dosing is paused for all subjects"):
        give_dose(personas, randomized, "day_7", 7)
    # a dose not given can still be recorded
    do_save_form(personas.actor("coordinator_a"), randomized, "day_7", "dosing",
                 {"administered": "no", "not_given_reason": "dosing paused by stopping rule"}, expected_version=None,
                 visit_date=randomized.anchor_date + timedelta(days=7))  # fmt: skip
    with pytest.raises(NotAllowed):
        do_record_dsmb_decision(personas.actor("investigator_a"), trip, "continue", timezone.localdate(), "x")
    with pytest.raises(Invalid) as info:
        do_record_dsmb_decision(personas.actor("statistician"), trip, "continue", timezone.localdate(), " ")
    assert info.value.field == "reason"
    do_record_dsmb_decision(personas.actor("statistician"), trip, "continue", timezone.localdate(),
                            "Reactions manageable; premedication added to the infusion procedure.")  # fmt: skip
    assert dosing_halt() is None
    give_dose(personas, randomized, "day_14", 14)  # allowed again
    # the same numbers do not trip again; a third reaction does
    report_ae(personas, randomized, 3, grade="2")
    assert StoppingRuleTrip.objects.count() == 1
    report_ae(personas, randomized, 4, grade="4", term="Anaphylaxis")
    assert StoppingRuleTrip.objects.count() == 2 and dosing_halt() is not None


def test_a_stop_decision_keeps_dosing_stopped(personas, randomized):
    report_ae(personas, randomized, 1, grade="5", serious=True, outcome="fatal", term="Anaphylaxis", relationship="definite")
    [trip] = StoppingRuleTrip.objects.filter(rule_id="stop_related_death")
    do_record_dsmb_decision(personas.actor("admin"), trip, "stop", timezone.localdate(), "Related death: the trial stops dosing.")
    assert dosing_halt() == trip
    with pytest.raises(Invalid, match="DSMB decided to stop"):
        give_dose(personas, randomized, "day_0", 0)
    with pytest.raises(ActionError, match="already recorded"):
        do_record_dsmb_decision(personas.actor("admin"), trip, "continue", timezone.localdate(), "changed our mind")
