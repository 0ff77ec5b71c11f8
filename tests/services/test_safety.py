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
    halt_message,
    next_adverse_event,
    raise_overdue_alerts,
    sae_clock,
)
from hepatrial.web.trial.models import (
    AuditEvent,
    DsmbDecision,
    FormEntry,
    SafetyAlert,
    StoppingRuleTrip,
)

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
    # the reactions are reported on day 6 of the subject's (moved-back) timeline, so the day-7 dose comes after the trip
    day6 = datetime.combine(randomized.anchor_date + timedelta(days=6), datetime.min.time(), SHANGHAI) + timedelta(hours=12)
    with time_machine.travel(day6, tick=False):
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
    # on day 0, an hour after randomization (00:01): the death is reported before the day-0 dose at 09:00
    with time_machine.travel(datetime.combine(randomized.anchor_date, datetime.min.time(), SHANGHAI) + timedelta(hours=1), tick=False):
        report_ae(personas, randomized, 1, grade="5", serious=True, outcome="fatal", term="Anaphylaxis", relationship="definite")
    [trip] = StoppingRuleTrip.objects.filter(rule_id="stop_related_death")
    do_record_dsmb_decision(personas.actor("admin"), trip, "stop", timezone.localdate(), "Related death: the trial stops dosing.")
    assert dosing_halt() == trip
    with pytest.raises(Invalid, match="DSMB decided to stop"):
        give_dose(personas, randomized, "day_0", 0)
    with pytest.raises(ActionError, match="already recorded"):
        do_record_dsmb_decision(personas.actor("admin"), trip, "continue", timezone.localdate(), "changed our mind")


def test_a_new_event_re_trips_even_when_the_count_is_unchanged(personas, randomized):
    """After 'continue', a regraded event and a new severe one leave the count at 2: the new event still trips."""
    report_ae(personas, randomized, 1, grade="3")
    report_ae(personas, randomized, 2, grade="3", term="Allergic reaction")
    [trip] = StoppingRuleTrip.objects.all()
    do_record_dsmb_decision(personas.actor("dsmb"), trip, "continue", timezone.localdate(), "manageable")
    report_ae(personas, randomized, 2, grade="2", term="Allergic reaction", version=1, reason="regraded after review")
    assert StoppingRuleTrip.objects.count() == 1  # the count fell to 1: nothing to trip on
    report_ae(personas, randomized, 3, grade="4", term="Anaphylaxis")
    assert StoppingRuleTrip.objects.count() == 2  # count back at 2, but on an event the DSMB has not seen
    assert StoppingRuleTrip.objects.first().evidence == sorted(["ae:" + str(e) for e in
        FormEntry.objects.filter(form_id="adverse_event", sequence__in=[1, 3]).values_list("pk", flat=True)])  # fmt: skip


def test_an_incomplete_ae_form_counts(personas, randomized):
    report_ae(personas, randomized, 1, grade="3")
    do_save_form(personas.actor("investigator_a"), randomized, "adverse_events", "adverse_event",
                 {"term": "Anaphylaxis", "grade": "4"}, expected_version=None, visit_date=None, sequence=2,
                 complete=False)  # fmt: skip
    assert StoppingRuleTrip.objects.count() == 1


def test_a_dose_given_before_the_trip_is_still_recorded(personas, randomized):
    report_ae(personas, randomized, 1, grade="3")
    report_ae(personas, randomized, 2, grade="3", term="Allergic reaction")
    assert dosing_halt() is not None
    give_dose(personas, randomized, "day_0", 0)  # given 30 days ago, entered now: recorded


def test_awareness_in_the_future_is_refused(personas, randomized):
    with pytest.raises(Invalid) as info:
        report_ae(personas, randomized, serious=True, aware=timezone.now() + timedelta(hours=2))
    assert info.value.field == "awareness_datetime"


def test_the_clock_is_frozen_by_the_initial_report(personas, randomized):
    aware = timezone.now() - timedelta(hours=30)
    entry = report_ae(personas, randomized, serious=True, aware=aware).entry
    report = do_submit_sae_report(personas.actor("investigator_a"), entry, "initial", "late")
    assert sae_clock(entry).state == "reported_late" and report.form_data["grade"] == "3" and report.aware_at == aware
    report_ae(personas, randomized, serious=True, aware=timezone.now() - timedelta(hours=1), version=1, reason="typo?")
    assert sae_clock(entry.__class__.objects.get(pk=entry.pk)).state == "reported_late"  # an edit cannot make it on time


def test_a_mail_failure_leaves_the_alert_to_be_retried(personas, randomized, django_capture_on_commit_callbacks, monkeypatch):
    from hepatrial.services import safety

    def broken(*args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(safety, "send_mail", broken)
    with django_capture_on_commit_callbacks(execute=True):
        report_ae(personas, randomized, serious=True)  # saved, no exception
    alert = SafetyAlert.objects.get(kind="sae_new")
    assert alert.emailed_at is None and AuditEvent.objects.filter(action="safety_alert").count() == 1
    monkeypatch.undo()
    assert safety.resend_unsent_alerts() == 1
    alert.refresh_from_db()
    assert alert.emailed_at is not None and len(mail.outbox) == 1


def test_every_ae_write_is_audited(personas, randomized):
    entry = report_ae(personas, randomized, serious=True).entry
    report_ae(personas, randomized, serious=True, grade="4", version=1, reason="worsened overnight")
    do_submit_sae_report(personas.actor("investigator_a"), entry, "initial", "Admitted.")
    events = AuditEvent.objects.filter(subject_id="SYSU3-001")
    fields = set(events.filter(action="create_form").values_list("field", flat=True))
    assert {"adverse_events/adverse_event.term", "adverse_events/adverse_event.grade",
            "adverse_events/adverse_event.serious"} <= fields  # fmt: skip
    change = events.get(action="update_form", field="adverse_events/adverse_event.grade")
    assert (change.old, change.new, change.reason) == ("3", "4", "worsened overnight")
    assert events.filter(action__in=["submit_sae_report", "safety_alert"]).count() == 2


def test_a_trip_awaiting_the_dsmb_halts_dosing_before_an_older_stop_and_a_continue_never(personas):
    """dosing_halt: a trip with no decision yet comes first (dosing paused), then the oldest
    the DSMB decided to stop on; a trip the DSMB let continue halts nothing. (The trips are
    made directly: what trips a rule is tested above; here, which trip blocks.)"""
    now = timezone.now()

    def trip(rule_id: str, hours_ago: int, decision: str | None = None) -> StoppingRuleTrip:
        made = StoppingRuleTrip.objects.create(rule_id=rule_id, action="pause_dosing", tripped_at=now - timedelta(hours=hours_ago),
                                               display="test", metrics={})  # fmt: skip
        if decision:
            DsmbDecision.objects.create(trip=made, decision=decision, decided_on=now.date(), reason="test", recorded_at=now,
                                        recorded_by=personas.actor("statistician").user)  # fmt: skip
        return made

    trip("pause_severe_reactions", 40, "continue")
    assert dosing_halt() is None
    trip("stop_related_death", 10, "stop")
    first_stop = trip("stop_related_death", 20, "stop")
    assert dosing_halt() == first_stop and "the DSMB decided to stop" in halt_message(dosing_halt())
    waiting = trip("pause_severe_reactions", 1)
    assert dosing_halt() == waiting and "awaiting the DSMB's decision" in halt_message(dosing_halt())


def test_the_next_adverse_event_is_the_next_number_of_the_ae_log_until_it_is_full():
    """The subject's page links 'record an adverse event' to the AE log's next number (from
    the subject's forms, already loaded); the log holds 99 (an unscheduled/log visit's
    repeats), and then there is no next one."""
    log = "adverse_events"

    def ae(n, visit=log):
        return FormEntry(visit_id=visit, form_id="adverse_event", sequence=n, data={})

    assert next_adverse_event([]) == (log, 1)
    assert next_adverse_event([ae(1), ae(3), FormEntry(visit_id="day_0", form_id="lab_panel", sequence=1)]) == (log, 4)
    assert next_adverse_event([ae(98)]) == (log, 99)
    assert next_adverse_event([ae(99)]) is None
