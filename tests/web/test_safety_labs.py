"""The lab trajectories page (issue #5): one subject's lab panels plotted by
study day with the CTCAE v5.0 grade bands, the doses, and each value's grade
in a table; 404 outside the user's sites."""

from __future__ import annotations

import re
from datetime import timedelta

from personas import PASSWORD

from hepatrial.services.dosing import subject_arm
from hepatrial.services.forms import do_save_form

PRIMARY = ("total_bilirubin", "inr", "creatinine", "platelets")
DAY0 = {"total_bilirubin": "250", "inr": "2.0", "creatinine": "90", "platelets": "85"}
# Day 7, graded against the day-0 baseline (male defaults: creatinine ULN 104, platelets LLN 150):
# bilirubin 400 > 1.5 x 250 -> 2; INR 2.6 > 2.5 -> 3; creatinine 160 > 1.5 x 104 and > 1.5 x 90 -> 2;
# platelets 45 < 50 -> 3 (CTCAE v5.0, docs/ctcae.md).
DAY7 = {"total_bilirubin": "400", "inr": "2.6", "creatinine": "160", "platelets": "45"}


def save_panel(personas, subject, visit_id: str, day: int, values: dict) -> None:
    on = subject.anchor_date + timedelta(days=day)
    do_save_form(personas.actor("coordinator_a"), subject, visit_id, "lab_panel",
                 {"sample_datetime": f"{on.isoformat()}T07:00+08:00", **values}, expected_version=None, visit_date=on)  # fmt: skip


def save_dose(personas, subject, visit_id: str, day: int) -> None:
    on = (subject.anchor_date + timedelta(days=day)).isoformat()
    product, particles = {"msc_ev": ("msc_ev", "1e10"), "control": ("saline", "")}[subject_arm(subject)]
    values = {"administered": "yes", "product": product, "lot_number": "EV-017", "particle_count": particles,
              "volume_ml": "100", "start_datetime": f"{on}T09:00+08:00", "stop_datetime": f"{on}T10:00+08:00",
              "rate_ml_h": "100", "interrupted": "no", "reaction": "no"}  # fmt: skip
    do_save_form(personas.actor("coordinator_a"), subject, visit_id, "dosing", values, expected_version=None,
                 visit_date=subject.anchor_date + timedelta(days=day))  # fmt: skip


def section(page: str, analyte: str) -> str:
    start = page.index(f'<section class="lab" id="lab-{analyte}">')
    return page[start:page.index("</section>", start)]


def worst_row(page: str, analyte: str) -> str:
    table = section(page, analyte)
    row = table[table.index('<tr class="worst">'):]
    return row[:row.index("</tr>")]


def test_the_page_plots_each_analyte_with_its_grade_bands(client, personas, randomized):
    from hepatrial.services.lab_safety import ensure_default_ranges

    ensure_default_ranges(personas.site_a)  # the site's reference ranges: the demo defaults
    save_panel(personas, randomized, "day_0", 0, DAY0)
    save_panel(personas, randomized, "day_7", 7, DAY7)
    save_dose(personas, randomized, "day_0", 0)
    assert client.login(username="monitor_a", password=PASSWORD)  # any role may look
    response = client.get(f"/safety/labs/{randomized.subject_id}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") == 4  # no ALT, AST, albumin: no plot for them
    for analyte in PRIMARY:
        svg = section(page, analyte)
        assert f'id="lab-{analyte}-svg"' in svg and 'class="trajectory"' in svg and svg.count("<circle") == 2
        assert 'class="band g' in svg and "Study day" in svg
        assert 'class="doses"' in svg and "Dose given: Day 0" in svg
    # the day-7 grades, in the table under each plot
    bilirubin = worst_row(page, "total_bilirubin")
    assert "<td>7</td>" in bilirubin and "<td>400 umol/L</td>" in bilirubin and "<td>2</td>" in bilirubin
    assert "&gt; 1.5 x baseline 250 umol/L (abnormal baseline)" in bilirubin
    assert "<td>3</td>" in worst_row(page, "inr") and "<td>2.6</td>" in worst_row(page, "inr")
    assert "<td>2</td>" in worst_row(page, "creatinine")
    assert "<td>3</td>" in worst_row(page, "platelets") and "<td>45 10^9/L</td>" in worst_row(page, "platelets")
    # the baseline itself is graded as v5 grades a sample without a baseline: 250 > 10 x ULN 17.1
    bilirubin_section = section(page, "total_bilirubin")
    baseline = bilirubin_section[bilirubin_section.index('<tr class="baseline"><th'):]
    assert "<td>4</td>" in baseline[:baseline.index("</tr>")]
    # every value in the table, for screen readers
    values = bilirubin_section[bilirubin_section.index('id="values-total_bilirubin"'):]
    assert re.search(r"<td>0 \(baseline\)</td><td>[^<]+ 07:00 CST</td><td>250 umol/L</td><td>4</td>", values)
    assert re.search(r"<td>7</td><td>[^<]+ 07:00 CST</td><td>400 umol/L</td><td>2</td>", values)
    assert "ULN 17.1 umol/L (demo default: protocol parameter bilirubin_uln" in bilirubin_section  # the site's stored range


def test_one_value_is_a_dot_and_no_value_a_sentence(client, personas, randomized):
    assert client.login(username="coordinator_a", password=PASSWORD)
    page = client.get(f"/safety/labs/{randomized.subject_id}/").content.decode()
    assert 'id="no-labs"' in page and "<svg" not in page
    save_panel(personas, randomized, "day_0", 0, {"total_bilirubin": "250", "inr": "2.0"})
    page = client.get(f"/safety/labs/{randomized.subject_id}/").content.decode()
    svg = section(page, "total_bilirubin")
    assert svg.count("<circle") == 1 and "<polyline" not in svg
    assert page.count("<svg") == 2
    assert "No value recorded." in section(page, "creatinine")  # a sentence, not an empty plot


def test_another_sites_user_gets_404_and_a_visitor_the_login_page(client, personas, randomized):
    save_panel(personas, randomized, "day_0", 0, DAY0)
    url = f"/safety/labs/{randomized.subject_id}/"
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.login(username="coordinator_b", password=PASSWORD)
    assert client.get(url).status_code == 404
    assert client.get("/safety/labs/NO-SUCH/").status_code == 404



def test_a_site_without_reference_ranges_is_told_so(client, personas, randomized):
    save_panel(personas, randomized, "day_0", 0, DAY0)
    assert client.login(username="investigator_a", password=PASSWORD)
    page = client.get(f"/safety/labs/{randomized.subject_id}/").content.decode()
    assert "This site has no laboratory reference ranges yet: only INR can be graded" in page
