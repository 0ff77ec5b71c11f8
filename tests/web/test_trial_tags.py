"""Template filters that stand in for Django's general ones on busy pages must print the same."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from django.template import engines
from django.utils import timezone as django_timezone


@pytest.mark.parametrize("value", [
    date(2026, 11, 26), date(999, 1, 2), datetime(2026, 1, 1, 20, 0, tzinfo=timezone.utc),  # 04:00 on the 2nd in Shanghai
    datetime(2026, 1, 1, 15, 0, tzinfo=timezone.utc), None, "", "not a date",
])  # fmt: skip
def test_ymd_prints_what_date_y_m_d_prints(value):
    template = engines["django"].from_string('{% load trial_tags %}{{ v|ymd }}|{{ v|date:"Y-m-d" }}')
    with django_timezone.override("Asia/Shanghai"):
        ours, django = template.render({"v": value}).split("|")
    assert ours == django
    if isinstance(value, datetime) and value.hour == 20:
        assert ours == "2026-01-02"  # the day in the active zone, not UTC's
