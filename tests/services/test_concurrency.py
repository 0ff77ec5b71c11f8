"""Two users at the same moment: real threads, real transactions (SQLite here,
PostgreSQL in CI's second run). No lost write, no 500, no duplicate id."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import example
from threads import in_threads
from django.utils import timezone

from hepatrial.services.enrollment import do_enroll, do_record_consent
from hepatrial.services.errors import ActionError, Conflict
from hepatrial.services.forms import do_save_form
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.models import FormEntry, Subject

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_first_saves_of_one_form_one_wins_one_conflicts(personas, subject, audit_rows_removable):
    values = {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00", "total_bilirubin": "250"}

    def save(who, bilirubin):
        return lambda: do_save_form(personas.actor(who), subject, "day_0", "lab_panel", {**values, "total_bilirubin": bilirubin},
                                    expected_version=None, visit_date=subject.anchor_date)  # fmt: skip

    results = in_threads([save("coordinator_a", "250"), save("investigator_a", "260")])
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, Conflict), repr(error)
    saved = FormEntry.objects.get()
    winner = next(value for kind, value in results if kind == "ok")
    assert saved.version == 1 and saved.data["total_bilirubin"] == winner.entry.data["total_bilirubin"]


def test_two_enrollments_at_once_get_distinct_numbers(personas, audit_rows_removable):
    screenings = []
    for _ in range(2):
        s = do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"))
        do_decide_eligibility(personas.actor("investigator_a"), s, "confirmed")
        do_record_consent(personas.actor("coordinator_a"), s, "1.0", timezone.now() - timedelta(minutes=5))
        screenings.append(s)
    results = in_threads([lambda s=s: do_enroll(personas.actor("coordinator_a"), s) for s in screenings])
    assert all(kind == "ok" for kind, _ in results), results
    assert sorted(Subject.objects.values_list("subject_id", flat=True)) == ["SYSU3-001", "SYSU3-002"]
    assert not any(isinstance(v, ActionError) for _, v in results)
