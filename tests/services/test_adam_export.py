"""ADaM datasets from the database: a randomized subject with doses, labs, an AE and an outcome."""

from __future__ import annotations

import csv
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from personas import dose_and_sample

from hepatrial.services.adam_export import export_adam
from hepatrial.services.forms import do_save_form
from hepatrial.services.lab_safety import ensure_default_ranges


def read(path):
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_export_from_the_database(personas, randomized, tmp_path):
    ensure_default_ranges(personas.site_a)
    day0 = randomized.anchor_date
    dose_and_sample(personas, randomized, bilirubin_rise_per_week=100)
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
    assert ae["IRR24FL"] == "Y"  # an infusion reaction on the day of the day-0 infusion
    exposure = read(paths["adex"])
    assert [(r["ASEQ"], r["AVISITN"], r["ASTDTM"], r["AVAL"], r["EXLOT"]) for r in exposure] == [
        ("1", "0.0", f"{day0.isoformat()}T09:00", "100.0", "L"), ("2", "7.0", f"{(day0 + timedelta(days=7)).isoformat()}T09:00", "100.0", "L")]
    # two of four infusions; randomized 30 days ago, so the day-21 window (+2) has closed; follow-up goes on
    assert (timezone.localdate(timezone=ZoneInfo(randomized.site.time_zone)) - day0).days == 30  # the site's today (Shanghai's after 16:00 UTC)
    assert (adsl["NDOSEPL"], adsl["EOTSTT"], adsl["DCTREAS"], adsl["EOSSTT"], adsl["DTHFL"]) == (
        "4", "DISCONTINUED", "INFUSIONS NOT GIVEN", "ONGOING", "")
    # define.xml describes exactly the files written, with the trial's arms
    import xml.etree.ElementTree as ET

    root = ET.parse(paths["define"]).getroot()
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.0", "xlink": "http://www.w3.org/1999/xlink"}
    leaves = {leaf.get("{http://www.w3.org/1999/xlink}href") for leaf in root.iter("{http://www.cdisc.org/ns/def/v2.0}leaf")}
    assert leaves == {p.name for k, p in paths.items() if k != "define"}
    decodes = {d.findtext("odm:TranslatedText", namespaces=ns) for d in root.iter("{http://www.cdisc.org/ns/odm/v1.3}Decode")}
    assert {"MSC-EV group", "Non-MSC-EV group"} <= decodes


def test_death_withdrawal_and_disposition_from_the_database(personas, randomized, tmp_path):
    """The outcome form's death (date and cause) is ADSL's, ahead of an earlier fatal AE's onset; a withdrawal of
    consent ends treatment. The safety metrics see the same date (services.safety.subject_records)."""
    from hepatrial.services.enrollment import do_withdraw_consent
    from hepatrial.services.safety import subject_records

    day0 = randomized.anchor_date
    investigator = personas.actor("investigator_a")
    do_save_form(investigator, randomized, "adverse_events", "adverse_event",
                 {"term": "Hepatic failure", "onset_date": (day0 + timedelta(days=3)).isoformat(), "grade": "5", "serious": True,
                  "sae_death": True, "relationship": "unrelated", "outcome": "fatal",
                  "awareness_datetime": f"{(day0 + timedelta(days=5)).isoformat()}T10:00+08:00"},
                 expected_version=None, visit_date=day0 + timedelta(days=5))  # fmt: skip
    rows = read(export_adam(tmp_path / "a")["adsl"])[0]
    assert (rows["DTHDT"], rows["DTHDOM"], rows["DTHCAUS"], rows["DTHADY"]) == ((day0 + timedelta(days=3)).isoformat(), "AE",
                                                                               "Hepatic failure", "3")  # fmt: skip
    do_save_form(investigator, randomized, "day_28", "outcome_status",
                 {"status": "died", "status_date": (day0 + timedelta(days=4)).isoformat(),
                  "death_date": (day0 + timedelta(days=4)).isoformat(), "death_cause": "Liver failure with sepsis"},
                 expected_version=None, visit_date=day0 + timedelta(days=28))  # fmt: skip
    do_withdraw_consent(investigator, randomized.screening.consents.first(), timezone.now(), "no_further_treatment", "test")
    rows = read(export_adam(tmp_path / "b")["adsl"])[0]
    assert (rows["DTHDT"], rows["DTHDOM"], rows["DTHCAUS"]) == ((day0 + timedelta(days=4)).isoformat(), "DS", "Liver failure with sepsis")
    assert (rows["EOTSTT"], rows["DCTREAS"], rows["EOSSTT"], rows["DCSREAS"]) == ("DISCONTINUED", "DEATH", "DISCONTINUED", "DEATH")
    # the day-28 visit that recorded the death is not a day the subject was seen alive
    assert rows["LSTALVDT"] <= rows["DTHDT"]
    [record] = subject_records()
    assert record.died_on == day0 + timedelta(days=4)


def test_a_transplanted_subject_is_followed_for_survival(personas, randomized, tmp_path):
    """An outcome form saying "transplanted" shows the subject alive on its status date: overall survival
    is censored there, not at the last visit before the transplantation; the lab-visit follow-up stops."""
    day0 = randomized.anchor_date
    do_save_form(personas.actor("investigator_a"), randomized, "day_28", "outcome_status",
                 {"status": "transplanted", "status_date": (day0 + timedelta(days=27)).isoformat(),
                  "transplant_date": (day0 + timedelta(days=12)).isoformat()},
                 expected_version=None, visit_date=day0 + timedelta(days=28))  # fmt: skip
    paths = export_adam(tmp_path)
    [adsl] = read(paths["adsl"])
    assert (adsl["TRANSDT"], adsl["LSTALVDT"]) == ((day0 + timedelta(days=12)).isoformat(), (day0 + timedelta(days=27)).isoformat())
    tte = {r["PARAMCD"]: r for r in read(paths["adtte"])}
    assert (tte["TFS84"]["AVAL"], tte["TFS84"]["CNSR"]) == ("12", "0")  # the transplantation is the event
    assert (tte["OS84"]["AVAL"], tte["OS84"]["CNSR"]) == ("27", "1")  # alive on day 27
    assert (adsl["EOTSTT"], adsl["DCTREAS"]) == ("DISCONTINUED", "LIVER TRANSPLANTATION")
