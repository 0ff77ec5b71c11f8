"""ADaM datasets from plain records (hepatrial.core.export.adam): ADSL flags and
baselines, ADTTE events and censoring (CNSR 0 = event, 1 = censored), ADLB
baseline/change/CTCAE grade, ADAE treatment-emergent and infusion-related flags, ADEX,
disposition (EOTSTT/EOSSTT) and the death rule. Hand-checked values."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta

import pytest

from hepatrial.core.export.adam import (
    ADEX_COLUMNS,
    ADSL_COLUMNS,
    AdverseEvent,
    Infusion,
    LabSample,
    SubjectData,
    adae,
    adex,
    adlb,
    adsl,
    adtte,
    disposition,
    meld_of,
    write_dataset,
)
from hepatrial.core.safety.death import Death, resolve_death

DAY0 = date(2026, 3, 2)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def subject(sid="SYSU3-001", **kw) -> SubjectData:
    base = dict(subject_id=sid, site="SYSU3", age=52, sex="male", presentation="ACLF", arm="msc_ev", arm_label="MSC-EV group",
                randomized_on=DAY0, doses=[day(0), day(7), day(14), day(21)], last_known_alive=day(90),
                labs=[LabSample("screening", "Screening", -1, day(-1), {"total_bilirubin": 300.0, "inr": 2.0, "creatinine": 80.0}),
                      LabSample("day_0", "Day 0", 0, day(0), {"total_bilirubin": 250.0, "inr": 2.1, "creatinine": 90.0}),
                      LabSample("day_7", "Day 7", 7, day(7), {"total_bilirubin": 400.0, "inr": 2.6, "creatinine": 95.0})])  # fmt: skip
    base.update(kw)
    return SubjectData(**base)


def test_adsl_flags_and_baselines():
    rows = adsl([subject(), subject("SYSU3-002", doses=[day(0)], arm="control", arm_label="Non-MSC-EV group"),
                 subject("SYSU3-003", arm=None, arm_label=None, randomized_on=None, doses=[])])  # fmt: skip
    one, two, three = rows
    assert list(one) == ADSL_COLUMNS
    assert (one["USUBJID"], one["ITTFL"], one["SAFFL"], one["PPROTFL"], one["NDOSE"]) == ("NCT05940610-SYSU3-001", "Y", "Y", "Y", 4)
    assert (one["BBILI"], one["BINR"]) == (250.0, 2.1)  # the last value on or before day 0
    assert one["BMELD"] == meld_of({"total_bilirubin": 250.0, "inr": 2.1, "creatinine": 90.0})
    assert (two["PPROTFL"], two["TRT01A"], two["ARMCD"]) == ("N", "Non-MSC-EV group", "CONTROL")  # 1 of 4 doses
    assert (three["ITTFL"], three["SAFFL"], three["ARM"], three["ACTARMCD"]) == ("N", "N", "Not Assigned", "NOTASSGN")


def test_meld_of_a_panel_matches_the_score():
    # bilirubin 250 umol/L = 14.62 mg/dL, creatinine 90 umol/L = 1.018 mg/dL, INR 2.1:
    # 10 x (0.957 ln 1.018 + 0.378 ln 14.62 + 1.120 ln 2.1 + 0.643) = 10 x (0.0171 + 1.0138 + 0.8310 + 0.643) = 25.05 -> 25
    assert meld_of({"total_bilirubin": 250.0, "inr": 2.1, "creatinine": 90.0}) == 25
    assert meld_of({"total_bilirubin": 250.0, "inr": 2.1}) is None


def test_adtte_events_and_censoring():
    died = subject("A", died_on=day(40), last_known_alive=day(39))
    transplanted = subject("B", transplanted_on=day(100), last_known_alive=day(170))
    alive = subject("C", last_known_alive=day(60))
    rows = {(r["SUBJID"], r["PARAMCD"]): r for r in adtte([died, transplanted, alive], [84, 168])}
    assert (rows[("A", "TFS84")]["AVAL"], rows[("A", "TFS84")]["CNSR"], rows[("A", "TFS84")]["EVNTDESC"]) == (40, 0, "Death")
    assert (rows[("B", "TFS84")]["AVAL"], rows[("B", "TFS84")]["CNSR"]) == (84, 1)  # transplant after day 84: event-free at 84
    assert rows[("B", "TFS84")]["CNSRDESC"] == "Event-free at day 84"
    assert (rows[("B", "TFS168")]["AVAL"], rows[("B", "TFS168")]["CNSR"]) == (100, 0)
    assert (rows[("B", "OS168")]["AVAL"], rows[("B", "OS168")]["CNSR"]) == (168, 1)  # transplant is not death
    assert (rows[("C", "TFS84")]["AVAL"], rows[("C", "TFS84")]["CNSR"], rows[("C", "TFS84")]["CNSRDESC"]) == (60, 1, "Last known alive")


def test_adlb_baseline_change_and_grade():
    ranges = {("SYSU3", "total_bilirubin", "any"): (None, 17.1)}
    rows = [r for r in adlb([subject()], ranges) if r["PARAMCD"] == "BILI"]
    assert [(r["AVISIT"], r["AVAL"], r["ABLFL"], r["CHG"]) for r in rows] == [
        ("Screening", 300.0, "", ""), ("Day 0", 250.0, "Y", ""), ("Day 7", 400.0, "", 150.0),
    ]  # fmt: skip
    assert rows[2]["ADY"] == 7 and rows[2]["PCHG"] == 60.0
    # 400 > 1.5 x the abnormal baseline 250 (CTCAE v5: graded against the baseline) -> grade 2
    assert (rows[2]["ATOXGR"], rows[2]["ATOXDSCH"]) == (2, "Blood bilirubin increased")
    inr = [r for r in adlb([subject()], ranges) if r["PARAMCD"] == "INR"]
    assert [r["ATOXGR"] for r in inr] == [2, 2, 3]  # absolute thresholds: > 1.5 grade 2, > 2.5 grade 3
    meld_rows = [r for r in adlb([subject()], ranges) if r["PARAMCD"] == "MELD"]
    assert [r["ABLFL"] for r in meld_rows] == ["", "Y", ""] and meld_rows[2]["CHG"] == meld_rows[2]["AVAL"] - meld_rows[1]["AVAL"]


def test_adae_treatment_emergent(tmp_path):
    s = subject(adverse_events=[
        AdverseEvent(1, "Infusion related reaction", "Injury, poisoning and procedural complications", 3, True, "probable",
                     day(0), day(1), "recovered", "interrupted"),
        AdverseEvent(2, "Ascites", "Gastrointestinal disorders", 2, False, "unrelated", day(-1), None, "not_recovered", None),
    ])  # fmt: skip
    rows = adae([s])
    assert [(r["AESEQ"], r["TRTEMFL"], r["AESER"], r["AEREL"], r["ASTDY"]) for r in rows] == [
        (1, "Y", "Y", "PROBABLY RELATED", 0), (2, "", "N", "NOT RELATED", -1),
    ]  # fmt: skip
    # CDISC controlled terms (OUT, ACN)
    assert [(r["AEOUT"], r["AEACN"]) for r in rows] == [("RECOVERED/RESOLVED", "DRUG INTERRUPTED"), ("NOT RECOVERED/NOT RESOLVED", "")]
    path = write_dataset(adsl([s]), ADSL_COLUMNS, tmp_path / "adsl.csv")
    with open(path, encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["USUBJID"] == "NCT05940610-SYSU3-001" and row["RANDDT"] == "2026-03-02"


def ae(seq, term, onset, relationship="unrelated", grade=2):
    return AdverseEvent(seq, term, "", grade, False, relationship, onset, None, "recovered", None)


def test_adae_infusion_related_within_24_hours_of_a_dose():
    """IRR24FL: an infusion-reaction term, or any event judged related, with onset on a dose day or the next."""
    s = subject(adverse_events=[
        ae(1, "Infusion related reaction", day(8)),  # day after the day-7 dose: flagged (term), even if called unrelated
        ae(2, "Infusion related reaction", day(9)),  # two days after: not within 24 h
        ae(3, "Fever", day(14), relationship="possible"),  # related, on a dose day
        ae(4, "Fever", day(14)),  # unrelated, not an infusion term
        ae(5, "Anaphylaxis", day(-1)),  # before the first dose
        ae(6, "Allergic reaction", None),  # no onset date: cannot be placed
    ])  # fmt: skip
    assert [r["IRR24FL"] for r in adae([s])] == ["Y", "", "Y", "", "", ""]


def test_adex_one_record_per_infusion():
    infusions = [Infusion("day_7", "Day 7", 7.0, datetime(2026, 3, 9, 9, 30), datetime(2026, 3, 9, 10, 35), 100.0, 1e10, "L2",
                          True, False),
                 Infusion("day_0", "Day 0", 0.0, datetime(2026, 3, 2, 9, 0), None, 100.0, None, "L1", False, True)]  # fmt: skip
    rows = adex([subject(infusions=infusions)])
    assert [list(r) for r in rows] == [ADEX_COLUMNS] * 2
    first, second = rows
    assert (first["ASEQ"], first["AVISIT"], first["ASTDTM"], first["AENDTM"], first["ASTDY"], first["IRRFL"]) == (
        1, "Day 0", "2026-03-02T09:00", "", 0, "Y")
    assert (first["EXDOSE"], first["EXDOSU"]) == ("", "")  # saline: no particle count
    assert (second["ASEQ"], second["AVAL"], second["AVALU"], second["EXDOSE"], second["EXDOSU"], second["INTRPFL"]) == (
        2, 100.0, "mL", 1e10, "PARTICLES", "Y")


CUTOFF = day(150)


@pytest.mark.parametrize(("kw", "expected"), [
    ({}, ("COMPLETED", "", "ONGOING", "")),  # 4 of 4 doses; known alive on day 90 of 168
    ({"last_known_alive": day(160)}, ("COMPLETED", "", "COMPLETED", "")),  # within day 168's 14-day window
    ({"doses": [day(0), day(7)], "died_on": day(10)}, ("DISCONTINUED", "DEATH", "DISCONTINUED", "DEATH")),
    ({"doses": [day(0)], "transplanted_on": day(5)}, ("DISCONTINUED", "LIVER TRANSPLANTATION", "ONGOING", "")),
    ({"doses": [day(0)], "withdrawn_on": day(3), "withdrawal_scope": "no_further_treatment"},
     ("DISCONTINUED", "WITHDRAWAL BY SUBJECT", "ONGOING", "")),
    ({"doses": [day(0)], "withdrawn_on": day(3), "withdrawal_scope": "no_further_data"},
     ("DISCONTINUED", "WITHDRAWAL BY SUBJECT", "DISCONTINUED", "WITHDRAWAL BY SUBJECT")),
    # two doses missed, the last window (day 21 + 2) closed, then death on day 30: the missed doses ended treatment
    ({"doses": [day(0), day(7)], "died_on": day(30)}, ("DISCONTINUED", "INFUSIONS NOT GIVEN", "DISCONTINUED", "DEATH")),
])  # fmt: skip
def test_disposition(kw, expected):
    s = subject(dosing_ends_day=23, follow_up_day=168, follow_up_window=14, **kw)
    d = disposition(s, CUTOFF)
    assert (d.treatment, d.treatment_reason, d.study, d.study_reason) == expected


def test_a_missed_dose_then_the_last_one_completes_treatment():
    """Doses on days 0, 7 and 21 (day 14 missed): the treatment period was completed; NDOSE says 3."""
    s = subject(doses=[day(0), day(7), day(21)], dosing_ends_day=23, last_dose_window=(19, 23), follow_up_day=168,
                follow_up_window=14)  # fmt: skip
    assert disposition(s, day(60)).treatment == "COMPLETED"
    late = subject(doses=[day(0), day(7), day(14)], dosing_ends_day=23, last_dose_window=(19, 23))
    assert (disposition(late, day(60)).treatment, disposition(late, day(60)).treatment_reason) == ("DISCONTINUED", "INFUSIONS NOT GIVEN")


def test_enrolled_not_randomized_withdrawal_ends_the_study():
    s = subject(arm=None, arm_label=None, randomized_on=None, doses=[], withdrawn_on=day(-1), withdrawal_scope="no_further_data")
    d = disposition(s, day(10))
    assert (d.treatment, d.study, d.study_reason, d.study_end) == ("", "DISCONTINUED", "WITHDRAWAL BY SUBJECT", day(-1))


def test_the_actual_arm_is_the_product_infused():
    s = subject(actual_arm="control", actual_arm_label="Non-MSC-EV group", adverse_events=[ae(1, "Fever", day(3))])
    [row] = adsl([s])
    assert (row["TRT01P"], row["TRT01A"], row["ACTARM"], row["ACTARMCD"], row["ARMCD"]) == (
        "MSC-EV group", "Non-MSC-EV group", "Non-MSC-EV group", "CONTROL", "MSC_EV")
    assert adae([s])[0]["TRTA"] == "Non-MSC-EV group"
    [same] = adsl([subject()])
    assert (same["TRT01A"], same["ACTARMCD"]) == ("MSC-EV group", "MSC_EV")


def test_disposition_is_ongoing_while_doses_can_still_be_given():
    s = subject(doses=[day(0)], dosing_ends_day=23, follow_up_day=168, follow_up_window=14, last_known_alive=day(5))
    assert (disposition(s, day(10)).treatment, disposition(s, day(24)).treatment) == ("ONGOING", "DISCONTINUED")
    assert disposition(subject(arm=None, randomized_on=None), day(10)).treatment == ""
    # no news by the close of day 168's window (day 182): lost to follow-up, ended at the last contact
    s = subject(follow_up_day=168, follow_up_window=14, last_known_alive=day(120))
    assert [(d.study, d.study_reason, d.study_end) for d in (disposition(s, day(182)), disposition(s, day(183)))] == [
        ("ONGOING", "", None), ("DISCONTINUED", "LOST TO FOLLOW-UP", day(120))]


def test_adsl_death_duration_and_planned_doses():
    s = subject(died_on=day(40), death_cause="Multi-organ failure", death_domain="DS", doses=[day(0), day(7), day(14)],
                dosing_ends_day=23, follow_up_day=168, follow_up_window=14)  # fmt: skip
    [row] = adsl([s], cutoff=day(50))
    assert (row["DTHFL"], row["DTHDT"], row["DTHADY"], row["DTHCAUS"], row["DTHDOM"]) == ("Y", "2026-04-11", 40,
                                                                                     "Multi-organ failure", "DS")  # fmt: skip
    assert (row["TRTDURD"], row["NDOSE"], row["NDOSEPL"], row["EOTSTT"], row["DCTREAS"]) == (15, 3, 4, "DISCONTINUED", "INFUSIONS NOT GIVEN")
    assert (row["EOSSTT"], row["DCSREAS"], row["EOSDT"]) == ("DISCONTINUED", "DEATH", "2026-04-11")


def test_the_death_rule():
    """The outcome form's date wins over a fatal AE's onset (an earliest bound); its empty cause takes the AE's term."""
    assert resolve_death([], []) is None
    assert resolve_death([], [(day(9), "Sepsis"), (day(5), "Hepatic failure")]) == Death(day(5), "Hepatic failure", "AE")
    assert resolve_death([(day(12), "Variceal bleeding")], [(day(5), "Sepsis")]) == Death(day(12), "Variceal bleeding", "DS")
    assert resolve_death([(day(12), "")], [(day(5), "Sepsis")]) == Death(day(12), "Sepsis", "DS")


def test_adlb_directional_grades_and_the_analysis_flag():
    """White cells are graded both ways (CTCAE v5.0): 'White blood cell decreased' < LLN and 'Leukocytosis' > 100e9/L."""
    labs = [LabSample("day_0", "Day 0", 0, day(0), {"wbc": 1.5}),
            LabSample("day_7", "Day 7", 7, day(7), {"wbc": 120.0}),
            LabSample("day_7", "Day 7", 7, day(8), {"wbc": 6.0})]  # fmt: skip
    rows = [r for r in adlb([subject(labs=labs)], {("SYSU3", "wbc", "any"): (4.0, 10.0)}) if r["PARAMCD"] == "WBC"]
    # 1.5: < 2.0 -> grade 3 decreased (CTCAE: <2000-1000/mm3); 120: > 100000/mm3 -> grade 3 leukocytosis
    assert [(r["ATOXGRL"], r["ATOXGRH"]) for r in rows] == [(3, 0), (0, 3), (0, 0)]
    assert [r["ATOXGR"] for r in rows] == [3, 3, 0] and rows[1]["ATOXDSCH"] == "Leukocytosis"
    assert [(r["BTOXGRL"], r["BTOXGRH"]) for r in rows] == [(3, 0)] * 3
    assert rows[0]["ABLFL"] == "Y" and rows[0]["ATOXGR"] == rows[0]["BTOXGR"]  # the baseline record's grade is BTOXGR
    assert [r["ANL01FL"] for r in rows] == ["Y", "Y", ""]  # the second day-7 sample is not the visit's value
    assert {r["PARAMN"] for r in rows} == {11}
