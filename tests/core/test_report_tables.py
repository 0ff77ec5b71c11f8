"""The report's tables from ADaM rows: CONSORT counts, Table 1, AEs by term and grade."""

from __future__ import annotations

from hepatrial.core.report.html import consort_svg
from hepatrial.core.report.tables import ae_table, consort, table1

ARMS = ["MSC-EV group", "Non-MSC-EV group"]


def adsl_row(sid, arm, *, saffl="Y", ndose=4, age=50, sex="M", strat="ACLF", meld=25, bili=250, inr=2.0, rand="Y"):
    return {"USUBJID": f"S-{sid}", "TRT01P": arm if rand == "Y" else "", "TRT01A": arm if saffl == "Y" else "",
            "RANDFL": rand, "ITTFL": rand, "SAFFL": saffl, "NDOSE": ndose, "AGE": age, "SEX": sex, "STRAT1R": strat,
            "BMELD": meld, "BBILI": bili, "BINR": inr}  # fmt: skip


ADSL = [adsl_row(1, ARMS[0]), adsl_row(2, ARMS[0], ndose=2, age=60, sex="F"), adsl_row(3, ARMS[1], strat="ALF", age=40),
        adsl_row(4, ARMS[1], saffl="N", ndose=0, age=30), adsl_row(5, "", rand="N", saffl="N", ndose=0)]  # fmt: skip


def test_consort_counts_from_the_screening_log():
    screenings = [{"verdict": "eligible", "enrolled": True}] * 5 + [
        {"verdict": "not_eligible", "failing": ["E4"]}, {"verdict": "not_eligible", "failing": ["E4", "E1"]},
        {"verdict": "incomplete", "failing": []}, {"verdict": "eligible", "failing": []},
    ]  # fmt: skip
    flow = consort(screenings, ADSL, ARMS)
    assert (flow.screened, flow.excluded, flow.randomized) == (9, 4, 4)
    assert flow.excluded_reasons[0] == ("E4", 2)
    assert ("eligibility not established (data missing)", 1) in flow.excluded_reasons
    assert flow.allocated == {ARMS[0]: 2, ARMS[1]: 2}
    assert flow.received == {ARMS[0]: 2, ARMS[1]: 1}
    assert flow.discontinued == {ARMS[0]: 1, ARMS[1]: 1}  # no EOTSTT in these rows: fewer than 4 infusions
    assert (flow.enrolled, flow.not_randomized, flow.not_randomized_reasons) == (5, 1, [("awaiting randomization", 1)])
    assert "(one candidate may fail several)" in consort_svg(flow)  # E4 and E1 of one candidate: 3 reasons for 2
    assert flow.analysed == {ARMS[0]: 2, ARMS[1]: 2}
    worded = consort(screenings, ADSL, ARMS, {"E4": "E4 MELD score >30"})
    assert worded.excluded_reasons[0] == ("E4 MELD score >30", 2)


def test_table1_by_arm():
    t = table1(ADSL, ARMS)
    assert t.columns == ["", "MSC-EV group (n=2)", "Non-MSC-EV group (n=2)", "All (n=4)"]
    rows = {r[0]: r[1:] for r in t.rows}
    assert rows["Sex: Female"] == ["1 (50%)", "0 (0%)", "1 (25%)"]
    assert rows["Presentation: ALF"] == ["0 (0%)", "1 (50%)", "1 (25%)"]
    # ages 50, 60: median 55, IQR (inclusive quartiles) 52.5-57.5
    assert rows["Age, years"][0] == "55.0 (52.5-57.5) [50.0-60.0], n=2"  # one decimal for every number of the row
    assert rows["INR"][0] == "2.00 (2.00-2.00) [2.00-2.00], n=2" and rows["MELD"][0].startswith("25.0 (")
    assert "Sex: Unknown" not in rows and not any(label.startswith("Site:") for label in rows)  # one site, sexes known


def test_table1_shows_unknown_sex_and_sites_when_there_are_several():
    rows = [adsl_row(1, ARMS[0], sex="U") | {"SITEID": "SYSU3"}, adsl_row(2, ARMS[1]) | {"SITEID": "SYSU1"}]
    t = {r[0]: r[1:] for r in table1(rows, ARMS).rows}
    assert t["Sex: Unknown"] == ["1 (100%)", "0 (0%)", "1 (50%)"] and t["Sex: Male"] == ["0 (0%)", "1 (100%)", "1 (50%)"]
    assert t["Site: SYSU1"] == ["0 (0%)", "1 (100%)", "1 (50%)"] and t["Site: SYSU3"] == ["1 (100%)", "0 (0%)", "1 (50%)"]


def test_ae_table_counts_subjects_once_at_their_worst_grade():
    adae = [
        {"USUBJID": "S-1", "AEDECOD": "Infusion related reaction", "AEBODSYS": "Injury", "AETOXGR": 2, "TRTEMFL": "Y", "AESER": "N"},
        {"USUBJID": "S-1", "AEDECOD": "Infusion related reaction", "AEBODSYS": "Injury", "AETOXGR": 3, "TRTEMFL": "Y", "AESER": "Y"},
        {"USUBJID": "S-3", "AEDECOD": "Infusion related reaction", "AEBODSYS": "Injury", "AETOXGR": 1, "TRTEMFL": "Y", "AESER": "N"},
        {"USUBJID": "S-2", "AEDECOD": "Ascites", "AEBODSYS": "GI", "AETOXGR": 2, "TRTEMFL": "", "AESER": "N"},  # before dosing
    ]  # fmt: skip
    t = ae_table(adae, ADSL, ARMS)
    assert t.rows == [["Infusion related reaction (Injury)", "1 (50%) / 1 (50%)", "1 (100%) / 0 (0%)"]]
    assert ae_table(adae, ADSL, ARMS, serious_only=True).rows == [["Infusion related reaction (Injury)", "1 (50%) / 1 (50%)", "0 (0%) / 0 (0%)"]]


def test_consort_discontinuation_from_the_disposition():
    rows = [adsl_row(1, ARMS[0]) | {"EOTSTT": "COMPLETED", "EOSSTT": "ONGOING"},
            adsl_row(2, ARMS[0], ndose=2) | {"EOTSTT": "DISCONTINUED", "DCTREAS": "DEATH", "EOSSTT": "DISCONTINUED", "DCSREAS": "DEATH"},
            adsl_row(3, ARMS[1], ndose=1) | {"EOTSTT": "DISCONTINUED", "DCTREAS": "WITHDRAWAL BY SUBJECT", "EOSSTT": "COMPLETED"},
            adsl_row(4, ARMS[1], ndose=3) | {"EOTSTT": "ONGOING", "EOSSTT": "ONGOING"}]  # fmt: skip
    flow = consort([], rows, ARMS)
    assert flow.discontinued == {ARMS[0]: 1, ARMS[1]: 1}  # subject 4 (3 of 4 so far) is still being dosed
    assert flow.discontinued_reasons == {ARMS[0]: [("death", 1)], ARMS[1]: [("withdrawal by subject", 1)]}
    assert (flow.left_study, flow.ongoing) == ({ARMS[0]: 1, ARMS[1]: 0}, {ARMS[0]: 1, ARMS[1]: 1})
    svg = consort_svg(flow)
    assert "Treatment stopped early (n=1)" in svg and "withdrawal by subject: 1" in svg and "In follow-up at the cut-off (n=1)" in svg
    assert "not in ADSL" in consort_svg(consort([], ADSL, ARMS))  # no EOSSTT: no follow-up counts made up