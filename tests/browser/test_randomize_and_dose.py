"""In Debian's Chromium: a coordinator randomizes a consented, eligible subject,
sees the arm and the dosing calendar, records the four doses, and a dose
outside its window asks for a protocol deviation before it is saved.

The doses of days 7-21 must lie in the past to be entered (a visit date in
the future is refused), so once the subject is randomized the test moves day
0, the randomization time and the consent back 30 days in the database
(personas.move_back): the one shortcut, standing for a month of the trial
going by. Screenshots go to a temporary folder (printed), or to
HEPATRIAL_SCREENSHOTS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_walkthrough import Walk

from hepatrial.web.trial.models import AllocationSlot, Deviation, FormEntry

ARM = {"msc_ev": ("MSC-EV group", "msc_ev", "1e10"), "control": ("Non-MSC-EV group", "saline", "")}


@pytest.mark.django_db(transaction=True)
def test_randomize_see_the_calendar_and_record_four_doses(chromium_page, live_server, personas, subject, tmp_path,
                                                          audit_rows_removable):  # fmt: skip
    from personas import PASSWORD, import_allocation_list, move_back

    import_allocation_list(personas, tmp_path)
    walk = Walk(chromium_page, live_server.url)
    page = walk.page
    print(f"\nscreenshots: {walk.shots}")
    try:
        # 1. the coordinator randomizes from the subject page
        walk.login("coordinator_a", PASSWORD)
        walk.go(f"/subjects/{subject.subject_id}/")
        page.click("#randomize")
        page.wait_for_selector("#allocation")
        arm = AllocationSlot.objects.get(subject=subject).arm
        label, product, particles = ARM[arm]
        assert f"Arm: {label}" in page.inner_text("#allocation") and "by coordinator_a" in page.inner_text("#allocation")
        # the calendar: four doses from today (day 0), the first due now
        assert page.locator("#dose-calendar tr[id^=dose-]").count() == 4
        assert "due now" in page.inner_text("#dose-1")
        walk.shot("randomized-calendar")

        # a month goes by (see the module docstring)
        move_back(subject, 30)
        day0 = subject.anchor_date
        page.reload()
        assert page.locator("#dose-calendar .dose-overdue").count() == 4

        def record(number: int, day: int) -> None:
            on = (day0 + timedelta(days=day)).isoformat()
            page.click(f"#record-dose-{number}")
            page.fill("#crf [name=visit_date]", on)
            page.select_option("#crf [name=administered]", "yes")
            page.select_option("#crf [name=product]", product)
            page.fill("#crf [name=lot_number]", f"LOT-{number}")
            page.fill("#crf [name=particle_count]", particles)
            page.fill("#crf [name=volume_ml]", "100")
            page.fill("#crf [name=start_datetime]", f"{on}T09:00")
            page.fill("#crf [name=stop_datetime]", f"{on}T10:00")
            page.fill("#crf [name=rate_ml_h]", "100")
            page.select_option("#crf [name=interrupted]", "no")
            page.select_option("#crf [name=reaction]", "no")
            page.click("#crf button[name=save]")

        # 2. doses 1 and 2 on their days
        for number, day in ((1, 0), (2, 7)):
            record(number, day)
            page.wait_for_selector("text=Saved (version 1).")
            page.click(f"a[href='/subjects/{subject.subject_id}/']")
        # 3. dose 3 on day 17: day 14's window is days 13-15, so the page asks for a deviation
        record(3, 17)
        page.wait_for_selector("#deviation")
        assert "late for its window" in walk.text()
        assert not FormEntry.objects.filter(visit_id="day_14", form_id="dosing").exists()
        walk.shot("dose-out-of-window-asks-deviation")
        page.fill("#id_deviation_description", "Infusion postponed: fever 38.6 C on day 14, cultures pending")
        page.fill("#id_deviation_action", "Dosed once afebrile 48 h; investigator informed")
        page.click("#crf button[name=save]")
        page.wait_for_selector("text=Saved (version 1).")
        page.click(f"a[href='/subjects/{subject.subject_id}/']")
        # 4. dose 4 on day 21
        record(4, 21)
        page.wait_for_selector("text=Saved (version 1).")
        page.click(f"a[href='/subjects/{subject.subject_id}/']")

        statuses = [page.inner_text(f"#dose-{n} td:nth-child(5)") for n in range(1, 5)]
        assert statuses == ["given", "given", "given outside its window", "given"]
        assert "Infusion postponed: fever 38.6 C" in page.inner_text("#deviations")
        walk.shot("four-doses-recorded")
        [deviation] = Deviation.objects.all()
        assert (deviation.type, deviation.form_entry.visit_id, deviation.occurred_on) == ("dose_window", "day_14", day0 + timedelta(days=17))
        # the deviations log lists it
        page.click("nav >> text=Deviations")
        assert "Infusion postponed" in page.inner_text("#deviation-log")
        walk.shot("deviations-log")
    except Exception:
        walk.shot("failure")
        print(f"test failed; screenshots in {walk.shots}")
        raise
