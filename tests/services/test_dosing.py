"""Recording the study infusions: refused before randomization, at a visit that
gives no dose (a fifth dose), of the other arm's product and out of order; a
dose outside its window is saved only with a protocol deviation, reported in
the same transaction; the deviations log."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from hepatrial.services.dosing import DeviationInput, do_report_deviation, subject_arm, subject_dose_calendar
from hepatrial.services.errors import Invalid, NotAllowed
from hepatrial.services.forms import do_save_form
from hepatrial.web.trial.models import AuditEvent, DataQuery, Deviation, FormEntry

DOSE_DAYS = {"day_0": 0, "day_7": 7, "day_14": 14, "day_21": 21}
PRODUCT = {"msc_ev": ("msc_ev", "1e10"), "control": ("saline", "")}


def dose_values(arm: str, on: date, **changes) -> dict:
    product, particles = PRODUCT[arm]
    values = {
        "administered": "yes", "product": product, "lot_number": "LOT-1", "particle_count": particles, "volume_ml": "100",
        "start_datetime": f"{on.isoformat()}T09:00+08:00", "stop_datetime": f"{on.isoformat()}T10:00+08:00",
        "rate_ml_h": "100", "interrupted": "no", "reaction": "no",
    }  # fmt: skip
    return {**values, **changes}


def give(personas, subject, visit_id, on=None, *, deviation=None, version=None, reason="", **changes):
    on = on or subject.anchor_date + timedelta(days=DOSE_DAYS.get(visit_id, 28))
    return do_save_form(
        personas.actor("coordinator_a"), subject, visit_id, "dosing", dose_values(subject_arm(subject), on, **changes),
        expected_version=version, visit_date=on, deviation=deviation, reason=reason,
    )  # fmt: skip


def test_no_dose_before_randomization(personas, subject):
    with pytest.raises(Invalid, match="not randomized") as info:
        do_save_form(personas.actor("coordinator_a"), subject, "day_0", "dosing", dose_values("msc_ev", date.today()),
                     expected_version=None, visit_date=timezone.localdate())  # fmt: skip
    assert info.value.field == "visit"
    assert not FormEntry.objects.filter(form_id="dosing").exists()


def test_four_doses_on_time_fill_the_calendar(personas, randomized):
    assert subject_dose_calendar(randomized)[0].status == "overdue"  # day 0 is 30 days ago, nothing recorded
    for visit_id in DOSE_DAYS:
        give(personas, randomized, visit_id)
    calendar = subject_dose_calendar(randomized)
    assert [(d.number, d.visit_id, d.status) for d in calendar] == [
        (1, "day_0", "given"), (2, "day_7", "given"), (3, "day_14", "given"), (4, "day_21", "given"),
    ]  # fmt: skip
    assert [d.dose_date - randomized.anchor_date for d in calendar] == [timedelta(days=d) for d in (0, 7, 14, 21)]
    assert not Deviation.objects.exists()


@pytest.mark.parametrize("visit_id", ["day_28", "unscheduled"])
def test_a_fifth_dose_is_refused(personas, randomized, visit_id):
    for v in DOSE_DAYS:
        give(personas, randomized, v)
    with pytest.raises(Invalid) as info:
        give(personas, randomized, visit_id)
    assert info.value.field == "visit"
    assert "4 of 4 doses are recorded as given: a dose here would be dose 5 of a 4-dose regimen" in str(info.value)
    assert FormEntry.objects.filter(form_id="dosing").count() == 4


def test_the_other_arms_product_is_refused(personas, randomized):
    arm = subject_arm(randomized)
    other = {"msc_ev": "control", "control": "msc_ev"}[arm]
    product, particles = PRODUCT[other]
    with pytest.raises(Invalid) as info:
        give(personas, randomized, "day_0", product=product, particle_count=particles)
    assert "product" in info.value.errors
    assert "cannot be recorded" in info.value.errors["product"][0]
    assert not FormEntry.objects.filter(form_id="dosing").exists()


def test_doses_are_recorded_in_order(personas, randomized):
    with pytest.raises(Invalid, match=r"Dose 1 \(Day 0 \(randomization, dose 1\)\) is not recorded yet"):
        give(personas, randomized, "day_7")
    give(personas, randomized, "day_0")
    # a dose dated on or before the previous one
    with pytest.raises(Invalid) as info:
        give(personas, randomized, "day_7", on=randomized.anchor_date)
    assert "not after dose 1" in info.value.errors["start_datetime"][0]
    give(personas, randomized, "day_7")
    # nor can an earlier dose be moved after a later one (here with the deviation it would need)
    with pytest.raises(Invalid) as info:
        give(personas, randomized, "day_0", on=randomized.anchor_date + timedelta(days=8), version=1, reason="date typo",
             deviation=DeviationInput("x", "y"))  # fmt: skip
    assert "not before dose 2" in info.value.errors["start_datetime"][0]


def test_a_dose_not_given_counts_as_recorded(personas, randomized):
    day0 = randomized.anchor_date
    do_save_form(personas.actor("coordinator_a"), randomized, "day_0", "dosing",
                 {"administered": "no", "not_given_reason": "variceal bleeding on the morning of day 0"},
                 expected_version=None, visit_date=day0)  # fmt: skip
    give(personas, randomized, "day_7")
    assert [d.status for d in subject_dose_calendar(randomized)[:2]] == ["not_given", "given"]


def test_an_out_of_window_dose_needs_a_deviation(personas, randomized):
    give(personas, randomized, "day_0")
    late = randomized.anchor_date + timedelta(days=9)  # day 7's window is day 6 to day 8
    with pytest.raises(Invalid, match="late for its window") as info:
        give(personas, randomized, "day_7", on=late)
    assert info.value.field == "deviation"
    assert not FormEntry.objects.filter(visit_id="day_7").exists()
    with pytest.raises(Invalid) as info:
        give(personas, randomized, "day_7", on=late, deviation=DeviationInput("  ", "none"))
    assert info.value.field == "deviation.description"

    saved = give(personas, randomized, "day_7", on=late,
                 deviation=DeviationInput("Pharmacy released the batch a day late.", "Batch release moved to day -2."))  # fmt: skip
    [deviation] = Deviation.objects.all()
    assert (deviation.type, deviation.occurred_on, deviation.form_entry) == ("dose_window", late, saved.entry)
    assert deviation.reported_by.username == "coordinator_a"
    event = AuditEvent.objects.get(action="report_deviation")
    assert event.new["description"] == "Pharmacy released the batch a day late." and event.new["form"] == "day_7/dosing"
    assert subject_dose_calendar(randomized)[1].status == "given_out_of_window"
    # the visit being out of its window is the same event: confirmed by the deviation, no data query
    assert saved.opened_queries == [] and not DataQuery.objects.exists()
    confirmed = AuditEvent.objects.get(action="confirm_warning")
    assert confirmed.reason == "visit_window: protocol deviation: Pharmacy released the batch a day late."
    # correcting the lot later needs a reason, not a second deviation, and opens no query either
    again = give(personas, randomized, "day_7", on=late, version=1, reason="lot misread", lot_number="LOT-2")
    assert Deviation.objects.count() == 1 and again.opened_queries == [] and not DataQuery.objects.exists()


def test_an_early_dose_needs_a_deviation_too(personas, randomized):
    give(personas, randomized, "day_0")
    with pytest.raises(Invalid, match="early for its window"):
        give(personas, randomized, "day_7", on=randomized.anchor_date + timedelta(days=5))
    give(personas, randomized, "day_7", on=randomized.anchor_date + timedelta(days=6))  # the window's first day


def test_a_deviation_is_refused_for_a_dose_on_time(personas, randomized):
    with pytest.raises(Invalid, match="no deviation is needed"):
        give(personas, randomized, "day_0", deviation=DeviationInput("x", "y"))
    assert not FormEntry.objects.exists() and not Deviation.objects.exists()


def test_only_a_dose_carries_a_deviation(personas, randomized):
    with pytest.raises(Invalid, match="Only a dose"):
        do_save_form(personas.actor("coordinator_a"), randomized, "day_0", "smt_given", {}, expected_version=None,
                     visit_date=randomized.anchor_date, complete=False, deviation=DeviationInput("x", "y"))  # fmt: skip


def test_reporting_a_deviation(personas, randomized):
    coordinator = personas.actor("coordinator_a")
    yesterday = timezone.localdate() - timedelta(days=1)
    made = do_report_deviation(coordinator, randomized, type="visit_window", occurred_on=yesterday,
                               description=" Day 28 visit held on day 31. ", action="Reminder calls added.")  # fmt: skip
    assert (made.description, made.action) == ("Day 28 visit held on day 31.", "Reminder calls added.")
    with pytest.raises(NotAllowed):
        do_report_deviation(personas.actor("monitor_a"), randomized, type="other", occurred_on=yesterday, description="x", action="y")
    with pytest.raises(NotAllowed):
        do_report_deviation(personas.actor("coordinator_b"), randomized, type="other", occurred_on=yesterday, description="x", action="y")
    for kwargs, field in [
        ({"type": "typo"}, "type"),
        ({"occurred_on": timezone.localdate() + timedelta(days=2)}, "occurred_on"),
        ({"occurred_on": None}, "occurred_on"),
        ({"description": ""}, "description"),
        ({"action": " "}, "action"),
        ({"description": "x" * 4001}, "description"),
        ({"occurred_on": date(2023, 6, 30)}, "occurred_on"),  # before consent document 1.0 (2023-07-01)
        ({"type": "dose_window"}, "type"),  # reported with the dose, from its dosing form
    ]:
        args = {"type": "other", "occurred_on": yesterday, "description": "d", "action": "a", **kwargs}
        with pytest.raises(Invalid) as info:
            do_report_deviation(coordinator, randomized, **args)
        assert info.value.field == field, kwargs
    assert Deviation.objects.count() == 1


def test_no_dose_after_consent_is_withdrawn(personas, randomized):
    from hepatrial.services.enrollment import active_consent, do_withdraw_consent

    give(personas, randomized, "day_0")
    withdrawn = timezone.now() - timedelta(days=20)  # day 10, between doses 2 and 3
    do_withdraw_consent(personas.actor("coordinator_a"), active_consent(randomized.screening), withdrawn,
                        "no_further_treatment", "does not want more infusions")  # fmt: skip
    give(personas, randomized, "day_7")  # given on day 7, before the withdrawal: still recordable
    with pytest.raises(Invalid) as info:
        give(personas, randomized, "day_14")
    assert "Consent was withdrawn on" in info.value.errors["start_datetime"][0]
    # not given is recordable; the doses not recorded after the withdrawal are stopped, not overdue
    do_save_form(personas.actor("coordinator_a"), randomized, "day_14", "dosing",
                 {"administered": "no", "not_given_reason": "consent withdrawn"}, expected_version=None,
                 visit_date=randomized.anchor_date + timedelta(days=14))  # fmt: skip
    assert [d.status for d in subject_dose_calendar(randomized)] == ["given", "given", "not_given", "stopped"]


def test_an_infusion_before_the_randomization_time_or_in_the_future_is_refused(personas, randomized):
    from hepatrial.web.trial.models import AllocationSlot

    slot = AllocationSlot.objects.get(subject=randomized)
    site_time = timezone.localtime(slot.allocated_at, ZoneInfo("Asia/Shanghai"))
    early = (site_time - timedelta(minutes=1)).isoformat(timespec="minutes")
    with pytest.raises(Invalid) as info:
        give(personas, randomized, "day_0", start_datetime=early, stop_datetime="")
    assert "before randomization" in info.value.errors["start_datetime"][0]  # same day 0, a minute too early
    future = (timezone.localtime(timezone.now(), ZoneInfo("Asia/Shanghai")) + timedelta(minutes=5)).isoformat(timespec="minutes")
    give(personas, randomized, "day_0")
    for v, d in (("day_7", 7), ("day_14", 14)):
        give(personas, randomized, v, on=randomized.anchor_date + timedelta(days=d))
    with pytest.raises(Invalid) as info:
        give(personas, randomized, "day_21", on=timezone.localdate(timezone=ZoneInfo("Asia/Shanghai")),
             start_datetime=future, stop_datetime="", deviation=DeviationInput("late", "noted"))  # fmt: skip
    assert "in the future" in info.value.errors["start_datetime"][-1]


def test_a_dose_moved_to_another_out_of_window_date_needs_its_own_deviation(personas, randomized):
    give(personas, randomized, "day_0")
    day0 = randomized.anchor_date
    give(personas, randomized, "day_7", on=day0 + timedelta(days=9), deviation=DeviationInput("late: ICU", "noted"))
    # moved to day 5 (early): the day-9 deviation does not cover it
    with pytest.raises(Invalid, match="early for its window"):
        give(personas, randomized, "day_7", on=day0 + timedelta(days=5), version=1, reason="date was wrong")
    give(personas, randomized, "day_7", on=day0 + timedelta(days=5), version=1, reason="date was wrong",
         deviation=DeviationInput("given early: transfer to another hospital on day 6", "noted"))  # fmt: skip
    assert sorted(d.occurred_on for d in Deviation.objects.all()) == [day0 + timedelta(days=5), day0 + timedelta(days=9)]
    assert not DataQuery.objects.exists()


def test_the_dose_date_is_the_sites_date_near_midnight(personas, randomized):
    """23:30 UTC is 07:30 the next morning in Guangzhou: the dose is on the site's date."""
    from datetime import datetime, time

    from hepatrial.web.trial.models import AllocationSlot

    day0 = randomized.anchor_date
    randomized_at = datetime.combine(day0, time(0, 5), ZoneInfo("Asia/Shanghai"))  # randomized just after midnight
    AllocationSlot.objects.filter(subject=randomized).update(allocated_at=randomized_at)
    saved = give(personas, randomized, "day_0", start_datetime=f"{(day0 - timedelta(days=1)).isoformat()}T23:30:00+00:00",
                 stop_datetime="")  # fmt: skip
    [dose1, *_rest] = subject_dose_calendar(randomized)
    assert (dose1.dose_date, dose1.status) == (day0, "given")
    assert saved.opened_queries == []  # the start is on the visit date at the site: no "another day" query
