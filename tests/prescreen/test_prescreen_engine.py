"""Pre-screening (issue #7): the protocol's criteria compiled to SQL agree with the
one-candidate screening on every patient, lab day and criterion; the seeded candidates of a
synthetic population are found and explained; the edges of every window hold."""

from __future__ import annotations

import csv
from datetime import datetime

import pytest
from prescreen_cases import disagreements, protocol_with

from hepatrial.core.prescreen.sources import Source, SourceError
from hepatrial.prescreen.engine import all_days, run_prescreen


def test_sql_and_one_candidate_screening_agree_on_10000_persons(protocol, omop_10k):
    """The differential test of issue #7: every patient, every lab day, every criterion; and
    the two plans (previous results by lags, by RANGE frames) give the same rows."""
    compared, problems, days = disagreements(protocol, Source.folder(omop_10k))
    _plan, exact = all_days(protocol, Source.folder(omop_10k), exact=True)
    assert not any(d["needs_more"] for d in days) and exact == days
    persons = {d["person_id"] for d in days}
    assert len(persons) == 10_000 and len(days) > 70_000
    assert compared == len(days) * 10
    assert problems == []
    statuses = {d[c] for d in days for c in ("c__i3", "c__i4", "c__e4")}
    assert statuses == {True, False, None}  # every outcome is exercised, unknown too


@pytest.mark.parametrize("variant", ["meld_na", "meld_3_0"])
def test_the_other_meld_variants_compile_the_same_way(omop_1k, flat, variant):
    """E4 with MELD-Na or MELD 3.0 (sodium, albumin, sex): the SQL scores equal core.scores'."""
    compared, problems, days = disagreements(protocol_with(variant), Source.folder(omop_1k))
    assert problems == [] and compared > 70_000
    assert disagreements(protocol_with(variant), Source.folder(flat))[1] == []
    assert {d["c__e4"] for d in days} >= {True, False}


def test_every_boundary_of_the_hand_made_table(protocol, flat):
    compared, problems, days = disagreements(protocol, Source.folder(flat))
    assert problems == []
    by = {(d["person_id"], d["taken_at"]): d for d in days}

    def day(pid, at):
        return by[(pid, datetime.fromisoformat(at))]

    # 1: 17 the day before the 18th birthday (29 Feb born); the rise of exactly 17.1 over 12 h
    first = day(1, "2018-02-28 20:00:00")
    assert first["f__age"] == 17 and first["c__i1"] is False
    assert first["rise__total_bilirubin"] == 17.1 and first["c__i3"] is True
    assert first["latest__inr"] == 1.5 and first["c__i4"] is True
    assert first["latest__creatinine"] == pytest.approx(106.08)  # 1.2 MG/DL
    assert day(1, "2018-03-01 09:00:00")["f__age"] == 18
    # 2: 10 mg/dL is 171 umol/L; INR given twice with two values counts as not given; PTA 40%
    second = day(2, "2024-05-01 10:00:00")
    assert second["latest__total_bilirubin"] == 171.0 and second["c__i3"] is True
    assert second["latest__inr"] is None and second["c__i4"] is True  # by PTA
    assert second["c__e1"] is True  # liver cancer diagnosed that day
    # 3: 72 h exactly still counts; a day later the bilirubin is too old
    assert day(3, "2024-01-04 08:00:00")["latest__total_bilirubin"] == 200
    assert day(3, "2024-01-05 08:00:00")["latest__total_bilirubin"] is None
    assert day(3, "2024-01-05 08:00:00")["c__i3"] is None
    # 4: 5000 umol/L and "3 mmol/L" of bilirubin are left out; the repeated 180 counts once
    assert (4, datetime(2024, 2, 1, 8)) not in by
    assert day(4, "2024-02-03 08:00:00")["latest__total_bilirubin"] == 180
    # 5: no birth date: age unknown, I1 unknown
    assert day(5, "2024-03-01 08:00:00")["c__i1"] is None
    # 6: the previous result 168 h back gives a rise; 168 h and a minute does not
    assert day(6, "2024-04-08 08:00:00")["rise__total_bilirubin"] == 20
    assert day(6, "2024-06-08 08:00:00")["rise__total_bilirubin"] is None
    # 7: MELD above 30 excludes
    assert day(7, "2024-07-01 08:00:00")["score__meld"] > 30 and day(7, "2024-07-01 08:00:00")["c__e4"] is True
    # 9: two draws in one day: assessed at the later one (INR 2.2 in the window, not 3.2)
    assert [d["taken_at"].hour for d in days if d["person_id"] == 9] == [23]
    assert day(9, "2024-08-01 23:30:00")["latest__inr"] == 2.2
    assert day(9, "2024-08-01 23:30:00")["f__history__dic"] is None  # diagnosed the next day
    # 8 has no labs: no lab day
    assert all(d["person_id"] != 8 for d in days)
    # 10: the rise reaches past five draws in 12 h to the one 24 h back (the exact plan's)
    assert day(10, "2024-09-02 08:00:00")["rise__total_bilirubin"] == 90
    _plan, by_lags = all_days(protocol, Source.folder(flat), exact=False)
    assert [d["person_id"] for d in by_lags if d["needs_more"]] == [10]
    assert run_prescreen(protocol, Source.folder(flat)).funnel[-1].patients == len(
        {d["person_id"] for d in days if d["candidate"]})


def test_run_finds_the_seeded_candidates_and_explains_each(protocol, omop_3k):
    """synth_truth.csv is the answer key: an ACLF or ALF episode in an adult of 18-65 is found
    within its episode; liver cancer, INR above the window and routine labs never qualify."""
    result = run_prescreen(protocol, Source.folder(omop_3k))
    truth = list(csv.DictReader((omop_3k / "synth_truth.csv").open(encoding="utf-8")))
    found = {c.person_id: c for c in result.candidates}
    by_person = {int(t["person_id"]): t for t in truth}
    assert found and set(found) <= set(by_person)  # no routine patient qualifies
    for pid, row in by_person.items():
        kind = row["kind"]
        if kind in ("liver_cancer", "inr_out_of_window"):
            assert pid not in found, (pid, kind)
        candidate = found.get(pid)
        if candidate:
            start, last = datetime.fromisoformat(row["episode_start"]), datetime.fromisoformat(row["last_draw"])
            assert start <= candidate.first_at <= last
            assert candidate.statuses["I3"] == "met" and candidate.statuses["I4"] == "met"
            assert candidate.statuses["E4"] == "not_met" and candidate.disagreements == []
            assert candidate.reasons["I3"].startswith("total_bilirubin")
            assert candidate.candidate.id == f"P{pid}"
    adults = [pid for pid, row in by_person.items() if row["kind"] in ("aclf", "alf") and pid in found]
    seeded = [pid for pid, row in by_person.items() if row["kind"] in ("aclf", "alf")]
    assert len(adults) >= 0.5 * len(seeded)  # the others are minors or over 65
    # the funnel ends with the candidates and never grows
    counts = [s.patients for s in result.funnel]
    assert counts == sorted(counts, reverse=True) and counts[-1] == len(result.candidates)
    assert result.funnel[0].patients == 3000


def test_a_seeded_episode_not_found_is_out_of_age_or_above_meld_30(protocol, omop_3k):
    """Each seeded ACLF/ALF episode not found fails I1 (age) or E4 (MELD) on every day that
    meets the lab criteria: its peak bilirubin may push MELD above 30."""
    result = run_prescreen(protocol, Source.folder(omop_3k))
    found = {c.person_id for c in result.candidates}
    truth = list(csv.DictReader((omop_3k / "synth_truth.csv").open(encoding="utf-8")))
    missed = [int(t["person_id"]) for t in truth if t["kind"] in ("aclf", "alf") and int(t["person_id"]) not in found]
    compared, problems, days = disagreements(protocol, Source.folder(omop_3k), person_ids=set(missed))
    assert problems == []
    for pid in missed:
        episode_days = [d for d in days if d["person_id"] == pid and d["c__i3"] and d["c__i4"]]
        assert episode_days and all(d["c__i1"] is False or d["c__e4"] is True for d in episode_days), pid


def test_a_folder_without_a_source_is_named(tmp_path):
    with pytest.raises(SourceError, match="neither an OMOP extract"):
        Source.folder(tmp_path)
    (tmp_path / "labs.csv").write_text("patient_id,test,value,unit,taken_at\n")
    with pytest.raises(SourceError, match="needs patients"):
        Source.folder(tmp_path)
    with pytest.raises(SourceError, match="is not a folder"):
        Source.folder(tmp_path / "nowhere")


def test_a_daylight_saving_change_is_real_time_in_both_executions(protocol, tmp_path):
    """Europe/Paris went back an hour on 27 October 2024: 20:00 to 20:00 the next day is 25 h,
    so a rise of 17.5 umol/L is 16.8 per 24 h (I3 not met), in the SQL as in Python; and the
    repeated clock hour 02:00-03:00 is one instant for both."""
    from zoneinfo import ZoneInfo

    from prescreen_cases import write_flat

    labs = [(1, "total_bilirubin", 100, "umol/L", "2024-10-26 20:00:00"), (1, "total_bilirubin", 117.5, "umol/L", "2024-10-27 20:00:00"),
            (1, "inr", 1.9, None, "2024-10-27 20:00:00"), (2, "total_bilirubin", 100, "umol/L", "2024-10-26 14:30:00"),
            (2, "total_bilirubin", 130, "umol/L", "2024-10-27 02:30:00"), (2, "inr", 1.9, None, "2024-10-27 02:30:00")]  # fmt: skip
    folder = write_flat(tmp_path / "paris", labs=labs, patients=[(1, "1970-01-01", "male"), (2, "1970-01-01", "male")])
    paris = ZoneInfo("Europe/Paris")
    compared, problems, days = disagreements(protocol, Source.folder(folder), tz=paris)
    assert problems == [] and compared == 40
    first = next(d for d in days if d["person_id"] == 1 and d["taken_at"].day == 27)
    assert first["rise__total_bilirubin"] == 16.8 and first["c__i3"] is False  # neither bilirubin nor its rise
    second = next(d for d in days if d["person_id"] == 2 and d["taken_at"].day == 27)
    assert second["rise__total_bilirubin"] == pytest.approx(30 / 13 * 24)  # 02:30 read as the second (CET) 02:30
    assert run_prescreen(protocol, Source.folder(folder), tz=paris).funnel[4].patients == 1  # I3: person 2 only
    utc_days = all_days(protocol, Source.folder(folder))[1]
    assert next(d for d in utc_days if d["person_id"] == 1 and d["taken_at"].day == 27)["rise__total_bilirubin"] == 17.5
