"""The visit schedule of NCT05940610 from an anchor date (core/schedule.py).

Day 0 is randomization; doses on days 0, 7, 14, 21 (parameters.dosing_days,
docs/decisions.md), the weekly ones +/- 1 day (parameters.dosing_window_days);
follow-up at days 28 (+/- 2), 84 (+/- 7) and 168 (+/- 14).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hepatrial.core.protocol import load_protocol
from hepatrial.core.schedule import (
    PlannedVisit,
    ScheduleError,
    day_window_status,
    dosing_days,
    planned_visit,
    planned_visits,
    study_day,
    visit_window,
    window_status,
)

ANCHOR = date(2024, 2, 26)  # a leap year: day 7 crosses 29 February


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


def test_planned_visits_are_the_scheduled_ones_in_day_order(protocol):
    plan = planned_visits(protocol, ANCHOR)
    assert [(p.visit_id, p.day) for p in plan] == [
        ("day_0", 0), ("day_7", 7), ("day_14", 14), ("day_21", 21),
        ("day_28", 28), ("day_84", 84), ("day_168", 168),
    ]  # fmt: skip
    assert all(p.kind == "scheduled" for p in plan)
    assert [p.visit_id for p in plan if p.dose] == ["day_0", "day_7", "day_14", "day_21"]


def test_targets_and_windows_from_the_anchor(protocol):
    plan = {p.visit_id: p for p in planned_visits(protocol, ANCHOR)}
    assert plan["day_0"] == PlannedVisit(
        "day_0", "Day 0 (randomization, dose 1)", "scheduled", 0, ANCHOR, ANCHOR, ANCHOR, True,
        ("lab_panel", "clinical_status", "smt_given", "dosing"),
    )  # fmt: skip
    # day 7 +/- 1: 6 to 8 days after the anchor (across 29 February 2024)
    assert (plan["day_7"].earliest, plan["day_7"].target, plan["day_7"].latest) == (
        date(2024, 3, 3), date(2024, 3, 4), date(2024, 3, 5),
    )  # fmt: skip
    for visit_id, day, before, after in [("day_28", 28, 2, 2), ("day_84", 84, 7, 7), ("day_168", 168, 14, 14)]:
        p = plan[visit_id]
        assert p.target == ANCHOR + timedelta(days=day)
        assert (p.target - p.earliest).days == before and (p.latest - p.target).days == after
        assert "outcome_status" in p.forms


def test_visit_window_is_earliest_target_latest(protocol):
    assert visit_window(protocol, "day_7", ANCHOR) == (
        ANCHOR + timedelta(days=6), ANCHOR + timedelta(days=7), ANCHOR + timedelta(days=8),
    )  # fmt: skip
    assert visit_window(protocol, "day_0", ANCHOR) == (ANCHOR, ANCHOR, ANCHOR)


@pytest.mark.parametrize(
    "visit_id, offset, expected",
    [
        ("day_7", 5, "early"),
        ("day_7", 6, "on_time"),  # the window's first day is in it
        ("day_7", 7, "on_time"),
        ("day_7", 8, "on_time"),  # ... and its last day
        ("day_7", 9, "late"),
        ("day_0", -1, "early"),
        ("day_0", 0, "on_time"),
        ("day_0", 1, "late"),  # no window on the first dose
        ("day_28", 25, "early"),
        ("day_28", 26, "on_time"),
        ("day_28", 30, "on_time"),
        ("day_28", 31, "late"),
        ("day_168", 153, "early"),
        ("day_168", 154, "on_time"),
        ("day_168", 182, "on_time"),
        ("day_168", 183, "late"),
    ],
)
def test_window_status_at_the_edges(protocol, visit_id, offset, expected):
    planned = planned_visit(protocol, visit_id, ANCHOR)
    assert window_status(planned, ANCHOR + timedelta(days=offset)) == expected
    # The same answer from days since the anchor (what validate_form uses).
    assert day_window_status(protocol.visit(visit_id), offset) == expected


def test_unscheduled_and_screening_visits_have_no_window(protocol):
    for visit_id in ("screening", "unscheduled"):
        with pytest.raises(ScheduleError, match="has no day and no window"):
            visit_window(protocol, visit_id, ANCHOR)
        with pytest.raises(ScheduleError, match="no window"):
            day_window_status(protocol.visit(visit_id), 3)


def test_an_unknown_visit(protocol):
    with pytest.raises(ScheduleError, match="unknown visit 'day_8'") as info:
        visit_window(protocol, "day_8", ANCHOR)
    assert info.value.field == "visit" and "day_7" in info.value.reason


def test_dosing_days_are_the_parameter(protocol):
    assert dosing_days(protocol) == [0, 7, 14, 21] == protocol.parameter("dosing_days")
    assert protocol.intervention("msc_ev").schedule.days == dosing_days(protocol)


def test_study_day_counts_from_day_0():
    assert study_day(ANCHOR, ANCHOR) == 0
    assert study_day(ANCHOR, date(2024, 3, 4)) == 7
    assert study_day(ANCHOR, date(2024, 2, 25)) == -1


def test_planned_visits_on_a_protocol_without_visits(protocol):
    bare = protocol.model_copy(update={"visits": []})
    assert planned_visits(bare, ANCHOR) == []
    assert dosing_days(bare) == []
