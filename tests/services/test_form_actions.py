"""Saving eCRFs: hard checks refuse and save nothing, soft checks save and open
a query, a changed value needs a reason, a stale version is a conflict; queries
move open -> answered -> closed (-> closed_modified); every change is audited."""

from __future__ import annotations

import pytest
from django.utils import timezone

from hepatrial.services.errors import ActionError, Conflict, Invalid, NotAllowed, NotFound
from hepatrial.services.forms import do_save_form, visit_grid, warning_key
from hepatrial.services.queries import do_answer_query, do_close_query, do_raise_query, do_reopen_query
from hepatrial.web.trial.models import AuditEvent, FormEntry


def labs(subject, **values):
    day0 = subject.anchor_date
    return {"sample_datetime": f"{day0.isoformat()}T07:00", **values}


def save(personas, subject, values, version=None, who="coordinator_a", form="lab_panel", visit="day_0", **kwargs):
    return do_save_form(personas.actor(who), subject, visit, form, values, expected_version=version,
                        visit_date=subject.anchor_date, **kwargs)  # fmt: skip


def test_a_clean_save_is_audited_field_by_field(personas, subject):
    result = save(personas, subject, labs(subject, total_bilirubin="250", inr="1.9"))
    assert result.opened_queries == [] and result.entry.version == 1
    assert result.entry.data["total_bilirubin"] == 250.0
    fields = set(AuditEvent.objects.filter(action="create_form").values_list("field", flat=True))
    assert {"day_0/lab_panel.total_bilirubin", "day_0/lab_panel.inr", "day_0/lab_panel.visit_date"} <= fields
    event = AuditEvent.objects.get(field="day_0/lab_panel.total_bilirubin")
    assert (event.old, event.new, event.username, event.subject_id) == (None, 250.0, "coordinator_a", "SYSU3-001")


def test_a_hard_error_saves_nothing(personas, subject):
    with pytest.raises(Invalid) as info:
        save(personas, subject, labs(subject, total_bilirubin="-3", inr="abc"))
    assert set(info.value.errors) >= {"total_bilirubin", "inr"}
    assert FormEntry.objects.count() == 0 and not AuditEvent.objects.filter(action="create_form").exists()


def test_a_soft_check_saves_and_opens_a_query_that_closes_itself_when_corrected(personas, subject):
    # bilirubin 15 in a umol/L field: looks like mg/dL (issue #3's example)
    first = save(personas, subject, labs(subject, total_bilirubin="15"))
    assert first.entry.data["total_bilirubin"] == 15.0
    codes = {q.check_id for q in first.opened_queries}
    assert "bilirubin_looks_like_mg_dl" in codes
    query = next(q for q in first.opened_queries if q.check_id == "bilirubin_looks_like_mg_dl")
    assert (query.field, query.state, query.raised_by) == ("total_bilirubin", "open", None)
    # the same value saved again does not open a second query
    again = save(personas, subject, labs(subject, total_bilirubin="15", inr="1.9"), version=1)
    assert not any(q.check_id == "bilirubin_looks_like_mg_dl" for q in again.opened_queries)
    # correcting it needs a reason, then the query closes itself
    with pytest.raises(Invalid) as info:
        save(personas, subject, labs(subject, total_bilirubin="256.5", inr="1.9"), version=2)
    assert "reason" in info.value.errors
    save(personas, subject, labs(subject, total_bilirubin="256.5", inr="1.9"), version=2, reason="was entered in mg/dL")
    query.refresh_from_db()
    assert query.state == "closed"
    change = AuditEvent.objects.get(field="day_0/lab_panel.total_bilirubin", action="update_form")
    assert (change.old, change.new, change.reason) == (15.0, 256.5, "was entered in mg/dL")


def test_a_soft_warning_confirmed_with_a_reason_opens_no_query(personas, subject):
    probe = save(personas, subject, labs(subject, total_bilirubin="15"), who="coordinator_a")
    warning = next(w for w in probe.warnings if w.code == "bilirubin_looks_like_mg_dl")
    result = save(personas, subject, labs(subject, total_bilirubin="15"), visit="screening",
                  confirmations={warning_key(warning): "Gilbert's: truly 15 umol/L"})  # fmt: skip
    assert not any(q.check_id == "bilirubin_looks_like_mg_dl" for q in result.opened_queries)
    confirmed = AuditEvent.objects.get(action="confirm_warning")
    assert confirmed.reason == "bilirubin_looks_like_mg_dl: Gilbert's: truly 15 umol/L"


def test_two_users_editing_the_same_form_the_second_gets_a_conflict(personas, subject):
    save(personas, subject, labs(subject, total_bilirubin="250"))
    save(personas, subject, labs(subject, total_bilirubin="260"), version=1, reason="re-read the report")
    with pytest.raises(Conflict):  # opened at version 1, someone saved version 2 since
        save(personas, subject, labs(subject, total_bilirubin="270"), version=1, reason="typo", who="investigator_a")
    assert FormEntry.objects.get().data["total_bilirubin"] == 260.0
    with pytest.raises(Conflict):  # a stale page cannot create a form that exists
        save(personas, subject, labs(subject, total_bilirubin="250"), version=None)


def test_form_permissions_and_protocol(personas, subject):
    with pytest.raises(NotAllowed):
        save(personas, subject, labs(subject), who="monitor_a")
    with pytest.raises(NotAllowed):
        save(personas, subject, labs(subject), who="coordinator_b")
    with pytest.raises(NotFound):
        save(personas, subject, labs(subject), visit="day_99")
    with pytest.raises(NotFound):  # outcome status is not a day-0 form
        save(personas, subject, {"status": "alive"}, form="outcome_status")


def test_query_life_cycle_and_closed_modified(personas, subject):
    entry = save(personas, subject, labs(subject, total_bilirubin="250", inr="1.9")).entry
    with pytest.raises(NotAllowed):
        do_raise_query(personas.actor("coordinator_a"), entry, "inr", "source says 1.8?")
    query = do_raise_query(personas.actor("monitor_a"), entry, "inr", "Source document says 1.8?")
    with pytest.raises(NotAllowed):
        do_close_query(personas.actor("coordinator_a"), query)
    query = do_answer_query(personas.actor("coordinator_a"), query, "Checked: 1.9 is right")
    assert query.state == "answered"
    query = do_close_query(personas.actor("monitor_a"), query, "agreed")
    assert (query.state, query.value_when_closed) == ("closed", 1.9)
    with pytest.raises(ActionError):
        do_answer_query(personas.actor("coordinator_a"), query, "late")
    save(personas, subject, labs(subject, total_bilirubin="250", inr="1.8"), version=1, reason="lab corrected its report")
    query.refresh_from_db()
    assert query.state == "closed_modified"
    query = do_reopen_query(personas.actor("data_manager"), query, "value changed: please confirm")
    assert query.state == "open"
    assert [m.kind for m in query.messages.all()] == ["raise", "answer", "close", "system", "reopen"]
    states = list(AuditEvent.objects.filter(model="DataQuery").values_list("old", "new"))
    assert states == [(None, "open"), ("open", "answered"), ("answered", "closed"), ("closed", "closed_modified"), ("closed_modified", "open")]


def test_visit_grid(personas, subject):
    save(personas, subject, labs(subject, total_bilirubin="15"))
    grid = {row.visit_id: row for row in visit_grid(subject)}
    assert list(grid)[:3] == ["screening", "day_0", "day_7"]
    day7 = grid["day_7"].planned
    assert (day7.target - subject.anchor_date).days == 7
    assert (day7.earliest - subject.anchor_date).days == 6 and (day7.latest - subject.anchor_date).days == 8
    cells = {c.form_id: c.status for c in grid["day_0"].cells}
    assert cells["lab_panel"] == "queried" and cells["clinical_status"] == "missing"


def test_a_visit_outside_its_window_opens_a_query_on_the_visit_date(personas, subject):
    """Day 7 is due on days 6-8 (window +/- 1, parameter dosing_window_days): day 10 is late."""
    from datetime import timedelta

    from hepatrial.web.trial.models import Subject

    # arrange: day 0 was 20 days ago, so day 10 is in the past
    Subject.objects.filter(pk=subject.pk).update(anchor_date=subject.anchor_date - timedelta(days=20))
    subject.refresh_from_db()

    late = subject.anchor_date + timedelta(days=10)
    values = {"sample_datetime": f"{late.isoformat()}T07:00", "total_bilirubin": "250"}
    result = do_save_form(personas.actor("coordinator_a"), subject, "day_7", "lab_panel", values,
                                  expected_version=None, visit_date=late)  # fmt: skip
    window = [q for q in result.opened_queries if q.check_id == "visit_window"]
    assert len(window) == 1 and window[0].field == "visit_date"
    # moving the visit date into the window (with a reason) closes it
    on_time = subject.anchor_date + timedelta(days=7)
    values["sample_datetime"] = f"{on_time.isoformat()}T07:00"
    do_save_form(personas.actor("coordinator_a"), subject, "day_7", "lab_panel", values, expected_version=1,
                 visit_date=on_time, reason="visit date typed wrong")  # fmt: skip
    window[0].refresh_from_db()
    assert window[0].state == "closed"
    assert result.entry.pk == window[0].form_entry_id


# --- review findings ------------------------------------------------------------------------------
def test_no_data_of_a_later_visit_after_a_no_further_data_withdrawal(personas, subject):
    from datetime import timedelta

    from hepatrial.services.enrollment import do_withdraw_consent
    from hepatrial.web.trial.models import Subject

    Subject.objects.filter(pk=subject.pk).update(anchor_date=subject.anchor_date - timedelta(days=10))
    subject.refresh_from_db()
    day0 = subject.anchor_date
    values = {"sample_datetime": f"{day0.isoformat()}T07:00", "total_bilirubin": "250"}
    save(personas, subject, values)  # day 0: before the withdrawal
    consent = subject.screening.consents.get()
    withdrawn = timezone.now() - timedelta(days=5)
    # arrange: the consent was given before the withdrawal date used here
    type(consent).objects.filter(pk=consent.pk).update(obtained_at=withdrawn - timedelta(days=6))
    consent.refresh_from_db()
    do_withdraw_consent(personas.actor("coordinator_a"), consent, withdrawn, "no_further_data", "moved away")
    later = day0 + timedelta(days=7)
    with pytest.raises(Invalid, match="withdrawn for any further data"):
        do_save_form(personas.actor("coordinator_a"), subject, "day_7", "lab_panel",
                     {"sample_datetime": f"{later.isoformat()}T07:00"}, expected_version=None, visit_date=later)  # fmt: skip
    # data of a visit before the withdrawal can still be corrected, with a reason
    assert save(personas, subject, {**values, "total_bilirubin": "251"}, version=1, reason="lab re-issued").entry.version == 2


def test_visit_dates_are_real(personas, subject):
    from datetime import timedelta

    future = subject.anchor_date + timedelta(days=400)
    with pytest.raises(Invalid, match="in the future"):
        do_save_form(personas.actor("coordinator_a"), subject, "day_0", "lab_panel", labs(subject),
                     expected_version=None, visit_date=future)  # fmt: skip
    with pytest.raises(Invalid, match="before day 0"):
        do_save_form(personas.actor("coordinator_a"), subject, "day_0", "lab_panel", labs(subject),
                     expected_version=None, visit_date=subject.anchor_date - timedelta(days=1))  # fmt: skip
    with pytest.raises(Invalid, match="Give the visit date"):
        do_save_form(personas.actor("coordinator_a"), subject, "day_0", "lab_panel", labs(subject),
                     expected_version=None, visit_date=None)  # fmt: skip


@pytest.mark.parametrize("sequence", [0, 2, 40000, True])
def test_a_scheduled_form_is_entered_once(personas, subject, sequence):
    with pytest.raises(Invalid, match="once per visit"):
        save(personas, subject, labs(subject), sequence=sequence)


def test_a_status_change_is_audited_and_datetimes_compare_as_instants(personas, subject):
    day0 = subject.anchor_date.isoformat()
    save(personas, subject, {"sample_datetime": f"{day0}T07:00+08:00", "total_bilirubin": "250"})
    # the same instant in UTC is no change: no reason needed, no audit row for it
    save(personas, subject, {"sample_datetime": f"{day0}T07:00+08:00", "total_bilirubin": "250"}, version=1, complete=False)
    rows = AuditEvent.objects.filter(action="update_form")
    assert [(r.field, r.old, r.new) for r in rows] == [("day_0/lab_panel.status", "complete", "started")]
    from datetime import datetime
    from datetime import timezone as dt_tz

    utc = datetime.fromisoformat(f"{day0}T07:00+08:00").astimezone(dt_tz.utc)
    save(personas, subject, {"sample_datetime": utc.isoformat(), "total_bilirubin": "250"}, version=2, complete=False)
    assert not AuditEvent.objects.filter(field="day_0/lab_panel.sample_datetime", action="update_form").exists()


def test_a_confirmation_answers_an_open_query_and_leaves_closing_to_the_monitor(personas, subject):
    first = save(personas, subject, labs(subject, total_bilirubin="15"))
    query = next(q for q in first.opened_queries if q.check_id == "bilirubin_looks_like_mg_dl")
    warning = next(w for w in first.warnings if w.code == "bilirubin_looks_like_mg_dl")
    save(personas, subject, labs(subject, total_bilirubin="15"), version=1,
         confirmations={warning_key(warning): "Gilbert's: truly 15 umol/L"})  # fmt: skip
    query.refresh_from_db()
    assert query.state == "answered"
    assert query.messages.last().text == "Confirmed as entered: Gilbert's: truly 15 umol/L"
    assert do_close_query(personas.actor("monitor_a"), query, "accepted").state == "closed"


def test_a_visit_date_change_marks_a_closed_window_query_modified(personas, subject):
    from datetime import timedelta

    from hepatrial.web.trial.models import Subject

    Subject.objects.filter(pk=subject.pk).update(anchor_date=subject.anchor_date - timedelta(days=20))
    subject.refresh_from_db()
    late = subject.anchor_date + timedelta(days=10)
    result = do_save_form(personas.actor("coordinator_a"), subject, "day_7", "lab_panel",
                          {"sample_datetime": f"{late.isoformat()}T07:00"}, expected_version=None, visit_date=late)  # fmt: skip
    query = next(q for q in result.opened_queries if q.check_id == "visit_window")
    do_close_query(personas.actor("monitor_a"), query, "accepted: patient came late")
    later = late + timedelta(days=1)
    do_save_form(personas.actor("coordinator_a"), subject, "day_7", "lab_panel",
                 {"sample_datetime": f"{later.isoformat()}T07:00"}, expected_version=1, visit_date=later,
                 reason="visit date corrected from the ward log")  # fmt: skip
    query.refresh_from_db()
    assert query.state == "closed_modified"
