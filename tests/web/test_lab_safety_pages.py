"""Lab grades and lab-proposed adverse events in the pages; reference ranges."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from personas import PASSWORD

from hepatrial.services.forms import do_save_form
from hepatrial.services.lab_safety import ensure_default_ranges
from hepatrial.web.trial.models import AeProposal, ReferenceRange


def lab(personas, subject, visit_id, day, **values):
    on = subject.anchor_date + timedelta(days=day)
    do_save_form(personas.actor("coordinator_a"), subject, visit_id, "lab_panel",
                 {"sample_datetime": f"{on.isoformat()}T07:00+08:00", **values}, expected_version=None, visit_date=on)  # fmt: skip


def test_grades_on_the_lab_form_and_a_proposal_recorded_as_an_ae(client, personas, randomized):
    ensure_default_ranges(personas.site_a)
    lab(personas, randomized, "day_0", 0, inr="2.0")
    lab(personas, randomized, "day_7", 7, inr="2.6")
    assert client.login(username="investigator_a", password=PASSWORD)
    page = client.get(f"/subjects/{randomized.subject_id}/visits/day_7/lab_panel/").content.decode()
    assert 'id="lab-grades"' in page and "INR increased" in page
    subject_page = client.get(f"/subjects/{randomized.subject_id}/").content.decode()
    proposal = AeProposal.objects.get()
    assert f'id="proposal-{proposal.pk}"' in subject_page
    form = client.get(f"/subjects/{randomized.subject_id}/visits/adverse_events/adverse_event/?proposal={proposal.pk}")
    html = form.content.decode()
    assert 'id="from-proposal"' in html and '<option value="INR increased" selected>' in html
    today = timezone.localdate(timezone=ZoneInfo("Asia/Shanghai")).isoformat()
    response = client.post(f"/subjects/{randomized.subject_id}/visits/adverse_events/adverse_event/", {
        "proposal": str(proposal.pk), "version": "", "visit_date": today, "reason": "", "term": "INR increased",
        "onset_date": proposal.sampled_on.isoformat(), "grade": "3", "serious": "no", "relationship": "unlikely",
        "outcome": "not_recovered",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    proposal.refresh_from_db()
    assert proposal.state == "confirmed" and proposal.ae_entry.form_id == "adverse_event"


def test_dismiss_a_proposal_needs_a_reason(client, personas, randomized):
    ensure_default_ranges(personas.site_a)
    lab(personas, randomized, "day_0", 0, platelets="85")
    lab(personas, randomized, "day_7", 7, platelets="60")
    proposal = AeProposal.objects.get()
    url = f"/subjects/{randomized.subject_id}/ae-proposals/{proposal.pk}/dismiss/"
    assert client.login(username="investigator_a", password=PASSWORD)
    assert client.post(url, {"reason": ""}).status_code == 422
    assert client.post(url, {"reason": "splenic sequestration, known"}).status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == "dismissed"


def test_the_data_manager_sets_a_range(client, personas):
    assert client.login(username="data_manager", password=PASSWORD)
    assert 'href="/reference-ranges/"' in client.get("/").content.decode()
    response = client.post("/reference-ranges/", {"site": "SYSU3", "lab_test": "alt", "sex": "any", "lln": "", "uln": "35",
                                                  "source": "SYSU3 laboratory manual 2025"})  # fmt: skip
    assert response.status_code == 302
    assert ReferenceRange.objects.get(lab_test="alt").uln == 35.0
    bad = client.post("/reference-ranges/", {"site": "SYSU3", "lab_test": "albumin", "sex": "any", "lln": "50", "uln": "35",
                                             "source": "x"})  # fmt: skip
    assert bad.status_code == 422 and "below the upper" in bad.content.decode()
