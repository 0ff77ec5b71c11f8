"""One walk through the real app in Debian's Chromium (Playwright, sync API):
screen the eligible ACLF candidate through the form, confirm, consent, enroll,
enter a day-0 lab panel whose bilirubin (15 umol/L) trips the soft check, see
the query, answer it, correct the value with a reason, and find the change in
the audit trail.

Each step is screenshotted into a temporary folder whose path is printed (and
named in the failure message)."""

from __future__ import annotations

import re
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from builders import example

from hepatrial.web.trial.models import DataQuery, Subject

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


class Walk:
    """The page, the server's address and the numbered screenshots."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base = base_url.rstrip("/")
        # HEPATRIAL_SCREENSHOTS=docs/screenshots refreshes the pictures the docs show
        target = os.environ.get("HEPATRIAL_SCREENSHOTS")
        self.shots = Path(target) if target else Path(tempfile.mkdtemp(prefix="hepatrial-walkthrough-"))
        self.shots.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def shot(self, name: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.shots / f"{self.n:02d}-{name}.png"), full_page=True)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def login(self, username: str, password: str) -> None:
        if self.page.locator("header form button").count():
            self.page.click("header form button")  # log out (a POST form)
        self.go("/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("main button[type=submit]")
        self.page.wait_for_selector("header .who")
        if "/login/code/" in self.page.url:  # the second factor: the code an authenticator app would show
            from django.contrib.auth import get_user_model
            from personas import authenticator_code

            self.page.fill("#id_code", authenticator_code(get_user_model().objects.get(username=username)))
            self.page.click("main button[type=submit]")
            self.page.wait_for_selector("header nav")

    def text(self) -> str:
        return self.page.inner_text("main")


@pytest.mark.django_db(transaction=True)
def test_screen_enroll_enter_query_and_audit(chromium_page, live_server, personas, audit_rows_removable):
    from personas import PASSWORD

    walk = Walk(chromium_page, live_server.url)
    page = walk.page
    print(f"\nscreenshots: {walk.shots}")
    try:
        # 1. the coordinator screens the eligible ACLF candidate through the form
        walk.login("coordinator_a", PASSWORD)
        walk.shot("home-coordinator")
        page.click("text=Screen a candidate")
        data = example("eligible-aclf")
        form = "#screening-form"
        page.fill(f"{form} [name=id]", data["id"])
        page.fill(f"{form} [name=assessed_at]", local(data["assessed_at"]))
        page.fill(f"{form} [name=age]", str(data["age"]))
        page.select_option(f"{form} [name=sex]", data["sex"])
        page.select_option(f"{form} [name=presentation]", data["presentation"])
        page.select_option(f"{form} [name=chronic_liver_disease]", "yes")
        page.fill(f"{form} [name=weeks_insult_to_complication]", str(data["weeks_insult_to_complication"]))
        page.select_option(f"{form} [name=encephalopathy_grade]", str(data["encephalopathy_grade"]))
        page.select_option(f"{form} [name=ascites]", data["ascites"])
        page.select_option(f"{form} [name=dialysis_twice_past_week]", "no")
        for item, value in data["history"].items():
            page.select_option(f"{form} [name=history_{item}]", "yes" if value else "no")
        for i, lab in enumerate(data["labs"]):
            page.select_option(f"{form} [name=lab-{i}-test]", lab["test"])
            page.fill(f"{form} [name=lab-{i}-value]", str(lab["value"]))
            page.select_option(f"{form} [name=lab-{i}-unit]", lab.get("unit", ""))
            page.fill(f"{form} [name=lab-{i}-at]", local(lab["at"]))
        page.fill(f"{form} [name=name]", "Wang Wei")
        page.fill(f"{form} [name=hospital_record_number]", "H-778812")
        walk.shot("screening-form-filled")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector("#verdict")
        assert page.inner_text("#verdict") == "eligible"
        assert page.locator("table.criteria tr[id^=criterion-]").count() >= 5
        walk.shot("screening-eligible")
        screening_url = page.url.removeprefix(walk.base)

        # 2. the investigator confirms, records consent and enrolls
        walk.login("investigator_a", PASSWORD)
        walk.go(screening_url)
        page.check("input[name=decision][value=confirmed]")
        page.click("button[name=submit_decision]")
        page.wait_for_selector("#decision")
        assert "Confirmed eligible" in page.inner_text("#decision")
        obtained = (datetime.now(SHANGHAI) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
        page.fill("[name=obtained_at]", obtained)
        page.click("button[name=submit_consent]")
        page.wait_for_selector("button[name=enroll]")
        walk.shot("decided-and-consented")
        page.click("button[name=enroll]")
        page.wait_for_selector("text=Enrolled as SYSU3-001.")
        assert page.inner_text("h1").startswith("SYSU3-001")
        walk.shot("subject-enrolled")
        subject = Subject.objects.get(subject_id="SYSU3-001")

        # 3. the investigator enters the day-0 lab panel: bilirubin 15 umol/L trips the soft check
        page.click("#form-day_0-lab_panel")
        day0 = subject.anchor_date.isoformat()
        page.fill("#crf [name=visit_date]", day0)
        page.fill("#crf [name=sample_datetime]", f"{day0}T00:00")
        page.fill("#crf [name=total_bilirubin]", "15")
        page.fill("#crf [name=inr]", "2.1")
        page.fill("#crf [name=prothrombin_activity]", "30")
        walk.shot("lab-panel-bilirubin-15")
        page.click("#crf button[name=save]")
        page.wait_for_selector(".messages")
        assert "data query was opened" in walk.text()
        assert page.locator("#crf .query").count() == 1 and "mg/dL" in page.inner_text("#crf .query")
        walk.shot("saved-query-opened")

        # 4. the coordinator sees the query, answers it and corrects the value with a reason
        walk.login("coordinator_a", PASSWORD)
        page.click("text=Queries")
        query = DataQuery.objects.get(field="total_bilirubin")
        page.click(f"a[href='/queries/{query.pk}/']")
        assert page.inner_text("#query-state") == "Open" and page.inner_text("#query-value") == "15"
        walk.shot("query-open")
        page.fill("[name=text]", "mg/dL value typed into the umol/L field; correcting to 256 umol/L")
        page.click("button[value=answer]")
        page.wait_for_selector("text=Query updated.")
        assert page.inner_text("#query-state") == "Answered"
        walk.shot("query-answered")
        page.click("a[href$='/visits/day_0/lab_panel/']")
        page.fill("#crf [name=total_bilirubin]", "256")
        page.fill("#crf [name=reason]", "mg/dL typed as umol/L: 15 mg/dL = 256 umol/L")
        page.click("#crf button[name=save]")
        page.wait_for_selector("text=Saved (version 2).")
        assert page.input_value("#crf [name=total_bilirubin]") == "256"
        walk.shot("value-corrected")

        # 5. the change is in the audit trail: old 15, new 256, the reason
        page.click("text=audit trail of this form")
        page.fill("[name=field]", "total_bilirubin")
        page.click("main form button[type=submit]")
        rows = page.locator("table.audit tr", has_text="update_form")
        assert rows.count() == 1
        row = rows.first
        assert (row.locator("td.old").inner_text(), row.locator("td.new").inner_text()) == ("15", "256")
        assert "15 mg/dL = 256 umol/L" in row.locator("td.reason").inner_text()
        assert re.search(r"CST", row.inner_text()) and "UTC" in row.inner_text()
        walk.shot("audit-trail")
    except Exception:
        walk.shot("failure")
        print(f"walkthrough failed; screenshots in {walk.shots}")
        raise
