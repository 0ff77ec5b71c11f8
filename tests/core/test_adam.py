"""ADaM datasets from plain records (hepatrial.core.export.adam): ADSL flags and
baselines, ADTTE events and censoring (CNSR 0 = event, 1 = censored), ADLB
baseline/change/CTCAE grade, ADAE treatment-emergent flag. Hand-checked values."""

from __future__ import annotations

import csv
from datetime import date, timedelta

from hepatrial.core.export.adam import (
    ADSL_COLUMNS,
    AdverseEvent,
    LabSample,
    SubjectData,
    adae,
    adlb,
    adsl,
    adtte,
    meld_of,
    write_dataset,
)

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
        (1, "Y", "Y", "PROBABLE", 0), (2, "", "N", "UNRELATED", -1),
    ]  # fmt: skip
    path = write_dataset(adsl([s]), ADSL_COLUMNS, tmp_path / "adsl.csv")
    with open(path, encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["USUBJID"] == "NCT05940610-SYSU3-001" and row["RANDDT"] == "2026-03-02"
