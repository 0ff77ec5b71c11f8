"""In Debian's Chromium: an investigator records an infusion reaction, marks it
serious and sees the 24-hour clock; a second grade-3 reaction in the MSC-EV arm
pauses dosing for everyone (a dose is refused) until the statistician enters
the DSMB's decision, after which the dose is recorded.

SYSU3-001 is randomized to the MSC-EV arm by the fixture's list (seed
20261126) and moved 30 days back (personas.move_back), so its doses lie in
the past. Screenshots: a temporary folder (printed), or HEPATRIAL_SCREENSHOTS."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from test_walkthrough import Walk

from hepatrial.web.trial.models import AllocationSlot, DsmbDecision, FormEntry, StoppingRuleTrip

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.django_db(transaction=True)
def test_reaction_clock_pause_and_dsmb_decision(chromium_page, live_server, personas, subject, tmp_path,
                                                audit_rows_removable):  # fmt: skip
    from personas import PASSWORD, import_allocation_list, move_back

    from hepatrial.services.randomization import do_randomize

    import_allocation_list(personas, tmp_path)
    do_randomize(personas.actor("coordinator_a"), subject)
    move_back(subject, 30)
    assert AllocationSlot.objects.get(subject=subject).arm == "msc_ev"
    day0 = subject.anchor_date
    today = datetime.now(SHANGHAI).date().isoformat()
    walk = Walk(chromium_page, live_server.url)
    page = walk.page
    print(f"\nscreenshots: {walk.shots}")

    def record_reaction(term: str, serious: bool) -> None:
        page.click("#record-ae")
        page.fill("#crf [name=visit_date]", today)
        page.select_option("#crf [name=term]", term)
        page.fill("#crf [name=onset_date]", day0.isoformat())
        page.select_option("#crf [name=grade]", "3")
        page.select_option("#crf [name=serious]", "yes" if serious else "no")
        if serious:
            page.select_option("#crf [name=sae_hospitalization]", "yes")
            page.fill("#crf [name=awareness_datetime]", datetime.now(SHANGHAI).strftime("%Y-%m-%dT%H:%M"))
        page.select_option("#crf [name=relationship]", "probable")
        page.select_option("#crf [name=outcome]", "recovering")
        page.click("#crf button[name=save]")
        page.wait_for_selector("text=Saved (version 1).")

    try:
        # 1. the investigator records a grade-3 infusion reaction, serious: the 24 h clock shows
        walk.login("investigator_a", PASSWORD)
        walk.go(f"/subjects/{subject.subject_id}/")
        record_reaction("Infusion related reaction", serious=True)
        clock = page.inner_text("#sae-clock")
        assert "initial report due" in clock and ("23 h" in clock or "24 h" in clock), clock
        walk.shot("sae-clock")
        page.click(f"a[href='/subjects/{subject.subject_id}/']")
        assert "initial report due" in page.inner_text("#adverse-events")

        # 2. a second grade-3 reaction in the MSC-EV arm: dosing pauses for everyone
        record_reaction("Allergic reaction", serious=False)
        page.click(f"a[href='/subjects/{subject.subject_id}/']")
        assert "Dosing is paused for all subjects" in page.inner_text("#dosing-halt")
        walk.shot("dosing-paused")
        [trip] = StoppingRuleTrip.objects.all()
        assert trip.rule_id == "pause_severe_reactions"
        # in the subject's moved-back timeline the trip belongs on day 0, before its 01:01 dose (a dose given
        # before a trip is still recorded): date it there
        StoppingRuleTrip.objects.filter(pk=trip.pk).update(
            tripped_at=datetime.combine(day0, datetime.min.time(), SHANGHAI) + timedelta(minutes=30))

        # 3. the coordinator's dose is refused while paused
        walk.login("coordinator_a", PASSWORD)
        walk.go(f"/subjects/{subject.subject_id}/")

        def record_dose_1() -> None:
            page.click("#record-dose-1")
            on = day0.isoformat()
            page.fill("#crf [name=visit_date]", on)
            page.select_option("#crf [name=administered]", "yes")
            page.fill("#crf [name=lot_number]", "EV-001")
            page.fill("#crf [name=particle_count]", "1e10")
            page.fill("#crf [name=volume_ml]", "100")
            # randomized at 00:01 on day 0 (personas.move_back): start an hour later
            start = (AllocationSlot.objects.get(subject=subject).allocated_at.astimezone(SHANGHAI) + timedelta(hours=1))
            page.fill("#crf [name=start_datetime]", start.strftime("%Y-%m-%dT%H:%M"))
            page.click("#crf button[name=save]")

        record_dose_1()
        page.wait_for_selector(".errorlist, .error")
        assert "Dosing is paused for all subjects" in walk.text()
        assert not FormEntry.objects.filter(form_id="dosing").exists()
        walk.shot("dose-refused-while-paused")

        # 4. the statistician enters the DSMB's decision on the safety page
        walk.login("statistician", PASSWORD)
        page.click("nav >> text=Safety")
        form = f"#trip-{trip.pk} form"
        assert page.locator(form).count() == 1  # the statistician records the decision here
        page.select_option(f"{form} [name=decision]", "continue")
        page.fill(f"{form} [name=decided_on]", today)
        page.fill(f"{form} [name=reason]", "Reactions manageable; premedication with antihistamine from now on.")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector("#dosing-status")
        assert DsmbDecision.objects.get().decision == "continue"
        walk.shot("dsmb-decision")

        # 5. dosing is open again
        walk.login("coordinator_a", PASSWORD)
        walk.go(f"/subjects/{subject.subject_id}/")
        record_dose_1()
        page.wait_for_selector("text=Saved (version 1).")
        assert FormEntry.objects.filter(form_id="dosing").count() == 1
    except Exception:
        walk.shot("failure")
        print(f"test failed; screenshots in {walk.shots}")
        raise
