"""The analysis report from the database: every section present, its numbers as JSON."""

from __future__ import annotations

import json

from django.utils import timezone
from personas import dose_and_sample

from hepatrial.services.forms import do_save_form
from hepatrial.services.report import write_report


def test_the_report_from_the_database(personas, randomized, tmp_path):
    day0 = randomized.anchor_date
    dose_and_sample(personas, randomized, bilirubin_rise_per_week=50)
    do_save_form(personas.actor("investigator_a"), randomized, "adverse_events", "adverse_event",
                 {"term": "Infusion related reaction", "onset_date": day0.isoformat(), "grade": "3", "serious": True,
                  "sae_hospitalization": True, "awareness_datetime": timezone.now().isoformat(), "relationship": "probable",
                  "outcome": "recovered"}, expected_version=None, visit_date=timezone.localdate())  # fmt: skip
    paths = write_report(tmp_path)
    html = paths["html"].read_text(encoding="utf-8")
    for heading in ("Participant flow (CONSORT 2010)", "Baseline characteristics", "Safety", "Time to event",
                    "MELD, bilirubin and INR over time", "Listings"):  # fmt: skip
        assert heading in html, heading
    assert "Assessed for eligibility (n=1)" in html and "Infusion related reaction" in html
    assert "Small arms" in html and "Kaplan-Meier" in html
    numbers = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert numbers["consort"]["randomized"] == 1 and set(numbers) >= {"consort", "time_to_event", "arms"}
    assert "simulated" not in numbers and "SIMULATED" not in html  # a real trial's database
    assert paths["define"].exists() and paths["adex"].exists()
    assert paths["adsl"].exists()
