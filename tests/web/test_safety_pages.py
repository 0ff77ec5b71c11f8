"""Safety in the pages: the adverse event log on the subject page, the SAE clock
and reports on the AE form, the safety dashboard, and the DSMB decision that
lifts a dosing pause."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils import timezone
from personas import PASSWORD

from hepatrial.web.trial.models import DsmbDecision, SaeReport, StoppingRuleTrip

SHANGHAI = ZoneInfo("Asia/Shanghai")
class _AeUrl:
    """The AE log's form URLs: the first entry has no sequence number in its URL."""

    def format(self, seq: int) -> str:
        base = "/subjects/SYSU3-001/visits/adverse_events/adverse_event/"
        return base if seq == 1 else f"{base}{seq}/"


AE_URL = _AeUrl()


def ae_post(subject, *, term="Infusion related reaction", grade="3", serious="no", **extra) -> dict:
    today = timezone.localdate(timezone=SHANGHAI).isoformat()
    data = {"version": "", "visit_date": today, "reason": "", "term": term, "onset_date": subject.anchor_date.isoformat(),
            "grade": grade, "serious": serious, "relationship": "probable", "outcome": "recovering"}  # fmt: skip
    if serious == "yes":
        data.update(sae_hospitalization="yes",
                    awareness_datetime=timezone.localtime(timezone.now(), SHANGHAI).strftime("%Y-%m-%dT%H:%M"))
    return {**data, **extra}


def test_record_a_serious_reaction_see_its_clock_and_report_it(client, personas, randomized):
    assert client.login(username="investigator_a", password=PASSWORD)
    page = client.get(f"/subjects/{randomized.subject_id}/").content.decode()
    assert 'id="record-ae"' in page and AE_URL.format(seq=1) in page
    response = client.post(AE_URL.format(seq=1), ae_post(randomized, serious="yes"))
    assert response.status_code == 302, response.content.decode()[:3000]
    page = client.get(AE_URL.format(seq=1)).content.decode()
    assert 'id="sae-clock"' in page and "initial report due" in page and " min left" in page
    response = client.post(AE_URL.format(seq=1) + "1/sae-report/", {"kind": "initial", "narrative": "Rigors, BP 80/40; admitted."})
    assert response.status_code == 302
    assert SaeReport.objects.get().kind == "initial"
    page = client.get(f"/subjects/{randomized.subject_id}/").content.decode()
    assert "Infusion related reaction" in page and "reported" in page and AE_URL.format(seq=2) in page


def test_serious_without_a_criterion_is_refused_on_the_page(client, personas, randomized):
    assert client.login(username="investigator_a", password=PASSWORD)
    response = client.post(AE_URL.format(seq=1), ae_post(randomized, serious="yes", sae_hospitalization=""))
    assert response.status_code == 422 and "needs at least one seriousness criterion" in response.content.decode()


def test_the_dashboard_and_the_dsmb_decision(client, personas, randomized):
    assert client.login(username="investigator_a", password=PASSWORD)
    client.post(AE_URL.format(seq=1), ae_post(randomized))
    client.post(AE_URL.format(seq=2), ae_post(randomized, term="Anaphylaxis", grade="4", serious="yes", sae_life_threatening="yes"))
    [trip] = StoppingRuleTrip.objects.all()
    page = client.get("/safety/").content.decode()
    assert "Dosing is paused for all subjects" in page and "awaiting the DSMB" in page
    assert '<figure id="sae-timeline"><svg' in page and "SYSU3-001, day 0: Anaphylaxis, grade 4 (pending)" in page
    assert client.post(f"/safety/trips/{trip.pk}/decision/", {"decision": "continue", "decided_on": "2026-11-26",
                                                                "reason": "ok"}).status_code == 403  # fmt: skip
    subject_page = client.get(f"/subjects/{randomized.subject_id}/").content.decode()
    assert 'id="dosing-halt"' in subject_page
    client.logout()
    assert client.login(username="dsmb", password=PASSWORD)  # a DSMB member records the board's decision
    assert client.get("/allocation/").status_code == 403  # and never sees the allocation list
    page = client.get("/safety/").content.decode()
    assert 'id="rule-pause_severe_reactions"' in page and "ev_severe_reactions 2 &gt;= 2" in page
    assert '<figure id="ae-chart"><svg' in page
    today = timezone.localdate(timezone=SHANGHAI).isoformat()
    response = client.post(f"/safety/trips/{trip.pk}/decision/", {"decision": "continue", "decided_on": today,
                                                                  "reason": "Premedication added; continue."})  # fmt: skip
    assert response.status_code == 302 and DsmbDecision.objects.get().decision == "continue"
    page = client.get("/safety/").content.decode()
    assert "Dosing is open" in page and "Continue unchanged" in page
    # the table by arm: two events in the MSC-EV arm, one serious, both related
    table = page[page.index('id="ae-by-arm"'):]
    assert "<td>MSC-EV group</td><td>1</td><td>2</td><td>0</td><td>0</td><td>1</td><td>1</td><td>0</td><td>1</td><td>2</td>" in table


def test_sites_see_no_comparative_results_and_no_other_sites_events(client, personas, randomized):
    assert client.login(username="investigator_a", password=PASSWORD)
    client.post(AE_URL.format(seq=1), ae_post(randomized, serious="yes"))
    page = client.get("/safety/").content.decode()
    assert 'id="comparative-note"' in page and 'id="ae-chart"' not in page and 'id="metrics"' not in page
    assert "SYSU3-001" in page  # its own site's serious event and clock
    client.logout()
    assert client.login(username="coordinator_b", password=PASSWORD)
    page = client.get("/safety/").content.decode()
    assert "SYSU3-001" not in page and "Infusion related reaction" not in page
    client.logout()
    assert client.login(username="dsmb", password=PASSWORD)
    page = client.get("/safety/").content.decode()
    assert 'id="metrics"' in page and 'id="ae-chart"' in page and "SYSU3-001" in page
