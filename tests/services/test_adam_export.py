"""ADaM datasets from the database: a randomized subject with doses, labs, an AE and an outcome."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.utils import timezone

from hepatrial.services.adam_export import export_adam
from hepatrial.services.dosing import subject_arm
from hepatrial.services.forms import do_save_form
from hepatrial.services.lab_safety import ensure_default_ranges


def read(path):
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_export_from_the_database(personas, randomized, tmp_path):
    ensure_default_ranges(personas.site_a)
    coordinator = personas.actor("coordinator_a")
    day0 = randomized.anchor_date
    product, particles = {"msc_ev": ("msc_ev", "1e10"), "control": ("saline", "")}[subject_arm(randomized)]
    for visit_id, d in (("day_0", 0), ("day_7", 7)):
        on = day0 + timedelta(days=d)
        do_save_form(coordinator, randomized, visit_id, "dosing", {"administered": "yes", "product": product, "lot_number": "L",
                     "particle_count": particles, "volume_ml": "100", "start_datetime": f"{on.isoformat()}T09:00+08:00"},
                     expected_version=None, visit_date=on)  # fmt: skip
        do_save_form(coordinator, randomized, visit_id, "lab_panel", {"sample_datetime": f"{on.isoformat()}T07:00+08:00",
                     "total_bilirubin": str(250 + 100 * d // 7), "inr": "2.0", "creatinine": "90"},
                     expected_version=None, visit_date=on)  # fmt: skip
    do_save_form(personas.actor("investigator_a"), randomized, "adverse_events", "adverse_event",
                 {"term": "Infusion related reaction", "onset_date": day0.isoformat(), "grade": "2", "serious": False,
                  "relationship": "probable", "outcome": "recovered"}, expected_version=None,
                 visit_date=timezone.localdate())  # fmt: skip
    paths = export_adam(tmp_path)
    [adsl] = read(paths["adsl"])
    assert (adsl["USUBJID"], adsl["ITTFL"], adsl["SAFFL"], adsl["PPROTFL"], adsl["NDOSE"]) == ("NCT05940610-SYSU3-001", "Y", "Y", "N", "2")
    assert adsl["BBILI"] == "250.0" and adsl["STRAT1R"] == "ACLF" and adsl["RANDDT"] == day0.isoformat()
    bili = [r for r in read(paths["adlb"]) if r["PARAMCD"] == "BILI"]
    assert [(r["ADY"], r["AVAL"], r["ABLFL"], r["CHG"]) for r in bili] == [("0", "250.0", "Y", ""), ("7", "350.0", "", "100.0")]
    assert bili[1]["ATOXGR"] == "1"  # 350 > 1.0 x the abnormal baseline 250: grade 1 (CTCAE v5)
    [ae] = read(paths["adae"])
    assert (ae["AEDECOD"], ae["AETOXGR"], ae["TRTEMFL"], ae["AEBODSYS"]) == ("Infusion related reaction", "2", "Y",
                                                                           "Injury, poisoning and procedural complications")  # fmt: skip
    tte = {r["PARAMCD"]: r for r in read(paths["adtte"])}
    assert set(tte) == {"TFS84", "OS84", "TFS168", "OS168"}
    assert tte["TFS84"]["CNSR"] == "1" and tte["TFS84"]["AVAL"] == "7"  # last known alive: the day-7 visit
