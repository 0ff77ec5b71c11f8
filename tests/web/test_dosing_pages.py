"""Doses and deviations in the browser's pages and the API: the dosing
calendar on the subject page, an out-of-window dose asking for its deviation,
the wrong product refused with its reason, and the deviations log."""

from __future__ import annotations

from datetime import timedelta

from personas import PASSWORD

from hepatrial.services.dosing import subject_arm
from hepatrial.services.accounts import do_create_token
from hepatrial.web.trial.models import AuditEvent, Deviation, FormEntry

PRODUCT = {"msc_ev": ("msc_ev", "1e10"), "control": ("saline", "")}


def dose_post(subject, day: int, **changes) -> dict:
    """The dosing form as the browser posts it (datetime-local inputs: site wall time)."""
    on = (subject.anchor_date + timedelta(days=day)).isoformat()
    product, particles = PRODUCT[subject_arm(subject)]
    data = {
        "version": "", "visit_date": on, "reason": "", "administered": "yes", "product": product, "lot_number": "EV-017",
        "particle_count": particles, "volume_ml": "100", "start_datetime": f"{on}T09:00", "stop_datetime": f"{on}T10:00",
        "rate_ml_h": "100", "interrupted": "no", "reaction": "no",
    }  # fmt: skip
    return {**data, **changes}


def url(subject, visit_id):
    return f"/subjects/{subject.subject_id}/visits/{visit_id}/dosing/"


def test_the_subject_page_shows_the_dosing_calendar(client, personas, randomized):
    assert client.login(username="coordinator_a", password=PASSWORD)
    page = client.get(f"/subjects/{randomized.subject_id}/").content.decode()
    calendar = page[page.index('id="dose-calendar"'):page.index("</table>", page.index('id="dose-calendar"'))]
    day0 = randomized.anchor_date
    for n, day in enumerate((0, 7, 14, 21), start=1):
        row = calendar[calendar.index(f'id="dose-{n}"'):]
        row = row[:row.index("</tr>")]
        assert f"{(day0 + timedelta(days=day)).isoformat()} (day {day})" in row
        assert "overdue (window passed)" in row  # day 0 is 30 days back and nothing is recorded


def test_record_a_dose_and_one_outside_its_window(client, personas, randomized):
    assert client.login(username="coordinator_a", password=PASSWORD)
    response = client.post(url(randomized, "day_0"), dose_post(randomized, 0))
    assert response.status_code == 302, response.content.decode()[:3000]
    # day 7's window is days 6-8: day 10 is late, and the page asks for a deviation
    late = dose_post(randomized, 10)
    response = client.post(url(randomized, "day_7"), late)
    page = response.content.decode()
    assert response.status_code == 422
    assert 'id="deviation"' in page and "late for its window" in page
    assert not FormEntry.objects.filter(visit_id="day_7").exists()
    # an empty deviation is refused field by field; the values typed are kept
    response = client.post(url(randomized, "day_7"), {**late, "deviation_description": "", "deviation_action": "Moved"})
    assert response.status_code == 422 and "This is required." in response.content.decode()
    assert ">Moved</textarea>" in response.content.decode()
    # the user corrects the date into the window and leaves the deviation blank: saved, no deviation
    response = client.post(url(randomized, "day_14"), {**dose_post(randomized, 14), "deviation_description": "", "deviation_action": ""})
    assert response.status_code == 422  # (day 7 first: doses keep their order)
    response = client.post(url(randomized, "day_7"), {
        **late, "deviation_description": "Patient in ICU until day 10", "deviation_action": "Dosed on ICU discharge",
    })  # fmt: skip
    assert response.status_code == 302
    response = client.post(url(randomized, "day_14"), {**dose_post(randomized, 14), "deviation_description": " ", "deviation_action": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    [deviation] = Deviation.objects.all()
    assert (deviation.type, deviation.form_entry.visit_id) == ("dose_window", "day_7")
    page = client.get(f"/subjects/{randomized.subject_id}/").content.decode()
    assert "given outside its window" in page and "Patient in ICU until day 10" in page
    log = client.get("/deviations/").content.decode()
    assert "Patient in ICU until day 10" in log and randomized.subject_id in log


def test_the_wrong_product_is_refused_on_the_page(client, personas, randomized):
    assert client.login(username="investigator_a", password=PASSWORD)
    # a new dosing form starts with the arm's product selected
    page = client.get(url(randomized, "day_0")).content.decode()
    own = PRODUCT[subject_arm(randomized)][0]
    assert f'<option value="{own}" selected>' in page
    other = {"msc_ev": "control", "control": "msc_ev"}[subject_arm(randomized)]
    product, particles = PRODUCT[other]
    response = client.post(url(randomized, "day_0"), dose_post(randomized, 0, product=product, particle_count=particles))
    assert response.status_code == 422
    assert "cannot be recorded" in response.content.decode()
    assert not FormEntry.objects.filter(form_id="dosing").exists()


def test_report_a_deviation_from_the_subject_page(client, personas, randomized):
    assert client.login(username="coordinator_a", password=PASSWORD)
    new = f"/subjects/{randomized.subject_id}/deviations/new/"
    response = client.post(new, {"type": "visit_window", "occurred_on": "", "description": "", "action": ""})
    assert response.status_code == 422 and Deviation.objects.count() == 0
    response = client.post(new, {"type": "visit_window", "occurred_on": randomized.anchor_date.isoformat(),
                                 "description": "Day 28 visit on day 31", "action": "Reminder calls"})  # fmt: skip
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="report_deviation", route="web").count() == 1


def api_headers(personas, name="coordinator_a"):
    token = do_create_token(personas.actor(name), "tests")[1]
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_doses_and_deviations_through_the_api(client, personas, randomized):
    headers = api_headers(personas)
    product, particles = PRODUCT[subject_arm(randomized)]
    day0 = randomized.anchor_date

    def dose(visit_id, day, **extra):
        on = (day0 + timedelta(days=day)).isoformat()
        values = {"administered": True, "product": product, "lot_number": "EV-1", "particle_count": particles or None,
                  "volume_ml": 100, "start_datetime": f"{on}T09:00:00+08:00"}  # fmt: skip
        body = {"values": values, "expected_version": None, "visit_date": on, **extra}
        return client.put(f"/api/subjects/{randomized.subject_id}/visits/{visit_id}/forms/dosing",
                          data=body, content_type="application/json", **headers)  # fmt: skip

    assert dose("day_0", 0).status_code == 200
    refused = dose("day_7", 12)
    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["deviation"]
    bad = dose("day_7", 12, deviation={"description": " ", "action": "x"})
    assert bad.status_code == 422 and "deviation.description" in bad.json()["errors"]
    assert dose("day_7", 12, deviation={"description": "ICU", "action": "noted"}).status_code == 200
    doses = client.get(f"/api/subjects/{randomized.subject_id}/doses", **headers).json()
    assert [d["status"] for d in doses] == ["given", "given_out_of_window", "overdue", "overdue"]
    assert doses[1]["window"] == "late" and doses[1]["dose_date"] == (day0 + timedelta(days=12)).isoformat()

    made = client.post(f"/api/subjects/{randomized.subject_id}/deviations", content_type="application/json",
                       data={"type": "procedure", "occurred_on": day0.isoformat(), "description": "No ECG", "action": "Done next day"},
                       **headers)  # fmt: skip
    assert made.status_code == 201 and made.json()["type_label"] == "Procedure or assessment not done as planned"
    typo = client.post(f"/api/subjects/{randomized.subject_id}/deviations", content_type="application/json",
                       data={"type": "typo", "occurred_on": day0.isoformat(), "description": "x", "action": "y"}, **headers)  # fmt: skip
    assert typo.status_code == 422 and "type" in typo.json()["errors"]
    log = client.get("/api/deviations?type=dose_window", **headers).json()
    assert [(d["type"], d["form"]) for d in log] == [("dose_window", "day_7/dosing")]
    assert len(client.get(f"/api/deviations?subject={randomized.subject_id}", **headers).json()) == 2
