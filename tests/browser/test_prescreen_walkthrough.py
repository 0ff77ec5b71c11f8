"""Pre-screening in Debian's Chromium (issue #7): a coordinator picks the data source, the run
goes on in the background while the page shows its progress, the candidates appear with
their funnel, and one opens into the screening form pre-filled; the coordinator answers
what the data cannot and screens. Screenshots go to a temporary folder (printed), or to
HEPATRIAL_SCREENSHOTS."""

from __future__ import annotations

from datetime import date

import pytest
from test_walkthrough import Walk

from hepatrial.core.prescreen.synth import synthesize, write_extract
from hepatrial.web.trial.models import PrescreenRun, Screening


@pytest.mark.django_db(transaction=True)
def test_prescreen_find_candidates_and_screen_one(chromium_page, live_server, personas, audit_rows_removable,
                                                   tmp_path, monkeypatch):  # fmt: skip
    from personas import PASSWORD

    write_extract(synthesize(3000, seed=4, end=date(2026, 11, 1)), tmp_path / "SYSU3" / "hospital-omop")
    monkeypatch.setenv("HEPATRIAL_PRESCREEN_DIR", str(tmp_path))
    walk = Walk(chromium_page, live_server.url)
    page = walk.page
    print(f"\nscreenshots: {walk.shots}")
    walk.login("coordinator_a", PASSWORD)
    page.click("nav >> text=Pre-screening")
    page.select_option("#id_source", label="hospital-omop — OMOP")
    walk.shot("prescreen-choose-source")
    page.click("#prescreen-form button[type=submit]")
    page.wait_for_selector("#run-summary", timeout=60_000)  # the page follows the background job
    run = PrescreenRun.objects.get()
    assert run.status == "done" and run.started_by.username == "coordinator_a"
    total = run.result["candidates_total"]
    assert page.inner_text("#run-summary").startswith(f"{total} candidates among 3000 patients")
    assert page.locator("#candidates tr[id^=candidate-]").count() == total
    assert "E4 not met" in page.inner_text("#funnel")
    walk.shot("prescreen-candidates")
    first = page.locator("#candidates tr[id^=candidate-]").first
    first.locator("summary").click()
    assert "total_bilirubin" in first.inner_text()
    walk.shot("prescreen-candidate-reasons")
    first.locator("a.open").click()
    page.wait_for_selector("#prefilled")
    form = "#screening-form"
    candidate = run.result["candidates"][0]["candidate_file"]
    assert page.input_value(f"{form} [name=age]") == str(candidate["age"])
    assert page.input_value(f"{form} [name=lab-0-test]") in ("total_bilirubin", "inr", "creatinine")
    page.fill(f"{form} [name=id]", "PS-0001")
    page.select_option(f"{form} [name=presentation]", "ACLF")
    page.select_option(f"{form} [name=chronic_liver_disease]", "yes")
    page.fill(f"{form} [name=weeks_insult_to_complication]", "2")
    page.select_option(f"{form} [name=encephalopathy_grade]", "1")
    page.select_option(f"{form} [name=ascites]", "mild")
    page.select_option(f"{form} [name=dialysis_twice_past_week]", "no")
    walk.shot("screening-prefilled")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#verdict")
    screening = Screening.objects.get()
    assert screening.candidate["labs"] and page.inner_text("#criterion-I3").count("met")
    assert {c["id"]: c["status"] for c in screening.result["criteria"]}["I4"] == "met"
    walk.shot("screened-from-prescreen")
