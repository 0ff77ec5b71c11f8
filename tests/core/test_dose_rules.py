"""The dosing calendar and the dose rules of hepatrial.core.dosing (pure)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hepatrial.core.dosing import RecordedDose, dose_calendar, dose_date, dose_number, dose_problems, dosing_visits
from hepatrial.core.protocol import load_protocol

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY0 = date(2024, 3, 4)


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


def at(d: date, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=SHANGHAI)


def given(visit_id: str, day: int, **kw) -> RecordedDose:
    return RecordedDose(visit_id, True, "msc_ev", at(DAY0 + timedelta(days=day)), **kw)


def test_the_four_doses_are_the_dosing_visits_in_day_order(protocol):
    assert [v.id for v in dosing_visits(protocol)] == ["day_0", "day_7", "day_14", "day_21"]
    assert [dose_number(protocol, v) for v in ("day_0", "day_7", "day_14", "day_21", "day_28", "screening")] == [1, 2, 3, 4, None, None]


def test_a_dose_date_is_the_sites_date_of_the_start():
    # 23:30 UTC on 3 March is 07:30 on 4 March in Guangzhou
    assert dose_date(datetime(2024, 3, 3, 23, 30, tzinfo=timezone.utc), SHANGHAI) == date(2024, 3, 4)
    assert dose_date(None, SHANGHAI) is None


@pytest.mark.parametrize(
    "today, status",
    [
        (DAY0 + timedelta(days=5), "upcoming"),  # day 7's window opens on day 6
        (DAY0 + timedelta(days=6), "due"),
        (DAY0 + timedelta(days=8), "due"),
        (DAY0 + timedelta(days=9), "overdue"),
    ],
)
def test_a_dose_not_recorded_is_upcoming_due_or_overdue(protocol, today, status):
    calendar = dose_calendar(protocol, DAY0, {"day_0": given("day_0", 0)}, today, SHANGHAI)
    assert calendar[0].status == "given" and calendar[1].status == status
    assert (calendar[1].planned.earliest, calendar[1].planned.latest) == (DAY0 + timedelta(days=6), DAY0 + timedelta(days=8))


def test_recorded_doses_on_the_calendar(protocol):
    recorded = {
        "day_0": given("day_0", 0),
        "day_7": given("day_7", 9),  # late
        "day_14": RecordedDose("day_14", False, None, None),
        "day_21": given("day_21", 21, complete=False),
    }
    calendar = dose_calendar(protocol, DAY0, recorded, DAY0 + timedelta(days=30), SHANGHAI)
    assert [(d.status, d.window) for d in calendar] == [
        ("given", "on_time"), ("given_out_of_window", "late"), ("not_given", None), ("started", "on_time"),
    ]  # fmt: skip


def problems(protocol, visit_id, values, recorded=None, arm="msc_ev"):
    found, window = dose_problems(protocol, arm=arm, anchor_date=DAY0, visit_id=visit_id, values=values,
                                  recorded=recorded or {}, tz=SHANGHAI)  # fmt: skip
    return [p.code for p in found], window


def test_the_rules(protocol):
    ok = {"administered": True, "product": "msc_ev", "start_datetime": at(DAY0)}
    assert problems(protocol, "day_0", ok) == ([], "on_time")
    assert problems(protocol, "day_0", {**ok, "product": "saline"}) == (["wrong_product"], "on_time")
    assert problems(protocol, "day_0", {**ok, "product": "msc_ev"}, arm="control")[0] == ["wrong_product"]
    assert problems(protocol, "day_0", {**ok, "start_datetime": at(DAY0 - timedelta(days=1))})[0] == ["before_randomization"]
    assert problems(protocol, "day_0", {**ok, "start_datetime": at(DAY0 + timedelta(days=1))}) == ([], "late")
    assert problems(protocol, "day_7", {**ok, "start_datetime": at(DAY0 + timedelta(days=7))}) == (["earlier_dose_missing"], "on_time")
    assert problems(protocol, "day_28", ok)[0] == ["not_a_dosing_visit"]
    # not given: nothing about product or window
    assert problems(protocol, "day_0", {"administered": False, "product": "saline"}) == ([], None)
    found, _ = dose_problems(protocol, arm=None, anchor_date=None, visit_id="day_0", values=ok, recorded={}, tz=SHANGHAI)
    assert [p.code for p in found] == ["not_randomized"]


def test_doses_due_after_a_withdrawal_are_stopped(protocol):
    recorded = {"day_0": given("day_0", 0)}
    calendar = dose_calendar(protocol, DAY0, recorded, DAY0 + timedelta(days=30), SHANGHAI, stopped_on=DAY0 + timedelta(days=7))
    assert [d.status for d in calendar] == ["given", "stopped", "stopped", "stopped"]
    calendar = dose_calendar(protocol, DAY0, recorded, DAY0 + timedelta(days=30), SHANGHAI, stopped_on=DAY0 + timedelta(days=8))
    assert [d.status for d in calendar] == ["given", "overdue", "stopped", "stopped"]
