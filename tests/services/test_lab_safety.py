"""Lab values graded against the site's reference ranges and the baseline;
a worsening proposes an adverse event, confirmed (AE recorded) or dismissed
with a reason, all audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hepatrial.services.errors import ActionError, Invalid, NotAllowed
from hepatrial.services.forms import do_save_form
from hepatrial.services.lab_safety import (
    baseline_value,
    do_dismiss_proposal,
    do_record_ae_from_proposal,
    do_set_reference_range,
    ensure_default_ranges,
    grade_entry,
)
from hepatrial.web.trial.models import AeProposal, AuditEvent


def lab(personas, subject, visit_id, day, **values):
    on = subject.anchor_date + timedelta(days=day)
    data = {"sample_datetime": f"{on.isoformat()}T07:00+08:00", **values}
    return do_save_form(personas.actor("coordinator_a"), subject, visit_id, "lab_panel", data, expected_version=None,
                        visit_date=on).entry  # fmt: skip


@pytest.fixture
def ranges(personas):
    return ensure_default_ranges(personas.site_a)


def test_baseline_is_the_last_value_on_or_before_day_0(personas, randomized, ranges):
    assert baseline_value(randomized, "inr") is None
    lab(personas, randomized, "day_0", 0, inr="1.8")
    assert baseline_value(randomized, "inr") == 1.8
    lab(personas, randomized, "day_7", 7, inr="2.2")
    assert baseline_value(randomized, "inr") == 1.8  # on-treatment values are not the baseline


def test_a_worse_grade_than_at_baseline_proposes_an_ae(personas, randomized, ranges):
    # ACLF at day 0: bilirubin 250 umol/L (abnormal baseline), INR 2.0 (grade 2), platelets 85 (grade 1)
    lab(personas, randomized, "day_0", 0, total_bilirubin="250", inr="2.0", platelets="85")
    assert not AeProposal.objects.exists()  # baseline values propose nothing
    entry = lab(personas, randomized, "day_7", 7, total_bilirubin="240", inr="2.6", platelets="60")
    proposals = {p.term: p for p in AeProposal.objects.all()}
    # bilirubin fell below its abnormal baseline: grade 0, nothing; INR 2.6 > 2.5 is grade 3 (baseline grade 2);
    # platelets 60 < 75 is grade 2 (baseline grade 1)
    assert set(proposals) == {"INR increased", "Platelet count decreased"}
    assert (proposals["INR increased"].grade, proposals["INR increased"].baseline_grade) == (3, 2)
    assert (proposals["Platelet count decreased"].grade, proposals["Platelet count decreased"].baseline_grade) == (2, 1)
    assert AuditEvent.objects.filter(action="propose_ae").count() == 2
    graded = {g.grade.term: g.grade.grade for g in grade_entry(entry)}
    assert graded["Blood bilirubin increased"] == 0 and graded["INR increased"] == 3


def test_a_rise_over_an_abnormal_baseline_is_graded_against_the_baseline(personas, randomized, ranges):
    lab(personas, randomized, "day_0", 0, total_bilirubin="250")
    lab(personas, randomized, "day_7", 7, total_bilirubin="400")  # 1.6 x baseline: grade 2 (CTCAE v5, abnormal baseline)
    [proposal] = AeProposal.objects.all()
    assert (proposal.term, proposal.grade, proposal.baseline_grade) == ("Blood bilirubin increased", 2, 0)
    assert "baseline" in proposal.criterion


def test_correcting_the_value_replaces_the_undecided_proposal(personas, randomized, ranges):
    lab(personas, randomized, "day_0", 0, inr="2.0")
    entry = lab(personas, randomized, "day_7", 7, inr="2.6")
    assert AeProposal.objects.get().grade == 3
    do_save_form(personas.actor("coordinator_a"), randomized, "day_7", "lab_panel",
                 {**entry.data, "sample_datetime": entry.data["sample_datetime"], "inr": "2.1"}, expected_version=1,
                 visit_date=entry.visit_date, reason="transcription error")  # fmt: skip
    assert not AeProposal.objects.exists()


def test_dismiss_with_a_reason_or_confirm_by_recording_the_ae(personas, randomized, ranges):
    lab(personas, randomized, "day_0", 0, inr="2.0", platelets="85")
    lab(personas, randomized, "day_7", 7, inr="2.6", platelets="60")
    inr = AeProposal.objects.get(term="INR increased")
    plt = AeProposal.objects.get(term="Platelet count decreased")
    with pytest.raises(NotAllowed):
        do_dismiss_proposal(personas.actor("coordinator_a"), inr, "x")
    with pytest.raises(Invalid):
        do_dismiss_proposal(personas.actor("investigator_a"), inr, " ")
    do_dismiss_proposal(personas.actor("investigator_a"), inr, "Expected fluctuation of ACLF coagulopathy; no bleeding.")
    inr.refresh_from_db()
    assert inr.state == "dismissed" and AuditEvent.objects.get(action="dismiss_ae_proposal").reason.startswith("Expected")
    with pytest.raises(ActionError, match="already decided"):
        do_dismiss_proposal(personas.actor("investigator_a"), inr, "again")
    today = timezone.localdate()
    result = do_record_ae_from_proposal(
        personas.actor("investigator_a"), plt, visit_id="adverse_events", form_id="adverse_event",
        values={"term": plt.term, "onset_date": plt.sampled_on.isoformat(), "grade": str(plt.grade), "serious": False,
                "relationship": "unlikely", "outcome": "not_recovered"},
        expected_version=None, visit_date=today, sequence=1,
    )  # fmt: skip
    plt.refresh_from_db()
    assert (plt.state, plt.ae_entry) == ("confirmed", result.entry)
    # the same finding saved again proposes nothing new
    assert AeProposal.objects.filter(state="proposed").count() == 0


def test_reference_ranges_are_set_by_the_data_manager_and_audited(personas):
    dm = personas.actor("data_manager")
    made = do_set_reference_range(dm, personas.site_a, "alt", "any", None, 35.0, "SYSU3 lab manual 2025, table 4")
    assert (made.uln, made.source) == (35.0, "SYSU3 lab manual 2025, table 4")
    assert AuditEvent.objects.get(action="set_reference_range").new == {"lln": None, "uln": 35.0, "source": "SYSU3 lab manual 2025, table 4"}
    with pytest.raises(NotAllowed):
        do_set_reference_range(personas.actor("investigator_a"), personas.site_a, "alt", "any", None, 35.0, "x")
    for args, field in [(("albumin", "any", 50.0, 35.0, "x"), "lln"), (("alt", "other", None, 35.0, "x"), "sex"),
                        (("xyz", "any", None, 1.0, "x"), "lab_test"), (("alt", "any", None, None, "x"), "uln"),
                        (("alt", "any", None, -1.0, "x"), "uln"), (("alt", "any", None, 35.0, " "), "source")]:  # fmt: skip
        with pytest.raises(Invalid) as info:
            do_set_reference_range(dm, personas.site_a, *args)
        assert info.value.field == field, args


def test_a_dismissed_finding_is_not_proposed_again_unless_it_worsens(personas, randomized, ranges):
    lab(personas, randomized, "day_0", 0, inr="2.0")
    lab(personas, randomized, "day_7", 7, inr="2.6")
    do_dismiss_proposal(personas.actor("investigator_a"), AeProposal.objects.get(), "known coagulopathy")
    lab(personas, randomized, "day_14", 14, inr="2.7")  # still grade 3: decided on already
    assert AeProposal.objects.filter(state="proposed").count() == 0
    lab(personas, randomized, "day_21", 21, platelets="20")  # another term: proposed (no baseline for platelets: no)
    assert AeProposal.objects.filter(state="proposed").count() == 0  # platelets had no baseline value


def test_nothing_is_proposed_without_a_baseline(personas, randomized, ranges):
    lab(personas, randomized, "day_7", 7, total_bilirubin="400")  # ACLF value, no day-0 panel yet
    assert not AeProposal.objects.exists()


def test_saving_a_panel_again_withdraws_its_pending_proposals_with_an_audit_row(personas, randomized, ranges):
    lab(personas, randomized, "day_0", 0, inr="2.0")
    entry = lab(personas, randomized, "day_7", 7, inr="2.6")
    do_save_form(personas.actor("coordinator_a"), randomized, "day_7", "lab_panel", {**entry.data, "inr": "2.7"},
                 expected_version=1, visit_date=entry.visit_date, reason="re-read")  # fmt: skip
    assert AuditEvent.objects.filter(action="withdraw_ae_proposal").count() == 1
    assert AeProposal.objects.get().value == 2.7
