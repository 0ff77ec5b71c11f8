"""The report's protocol outcomes on a small hand-made trial (ADaM rows from
hepatrial.core.export.adam): the primary safety outcome (infusion-related toxicity
within 24 h, AEs and SAEs to day 28), severe infections to day 84, follow-up by
reverse Kaplan-Meier, lab completeness by visit, the baseline-adjusted change from
baseline, and the deaths listing. Counts are checked by hand; the statistics
themselves are checked against R in test_incidence_vs_r.py, test_survival_vs_r.py
and test_change_by_visit_vs_r.py."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

from hepatrial.core.export.adam import AdverseEvent, Infusion, LabSample, SubjectData, adae, adex, adlb, adsl, adtte
from hepatrial.core.report.build import build_report
from hepatrial.core.report.html import render

A, B = "MSC-EV group", "Non-MSC-EV group"
DAY0 = date(2026, 1, 5)
CUTOFF = DAY0 + timedelta(days=100)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def ae(seq, term, soc, onset_day, grade=2, serious=False, relationship="unrelated", outcome="recovered"):
    return AdverseEvent(seq, term, soc, grade, serious, relationship, day(onset_day), None, outcome, None)


def subject(i: int, arm: str, *, aes=(), died=None, cause="", doses=4, reaction_on=None, meld_drop=0.0) -> SubjectData:
    dose_days = [0, 7, 14, 21][:doses]
    infusions = [Infusion(f"d{d}", f"Day {d}", float(d), datetime.combine(day(d), datetime.min.time()).replace(hour=9), None,
                          100.0, 1e10 if arm == A else None, "L1", False, d == reaction_on) for d in dose_days]  # fmt: skip
    labs = []
    for d in (0, 7, 14, 28, 84):
        if died is not None and d >= died:
            break
        wobble = 1 + 0.02 * ((i * (d + 1)) % 3 - 1)  # a little within-subject variation, the same in both arms
        bili = (300.0 + 10 * i) * (0.9 if arm == A else 1.0) ** (d / 7) * wobble
        creat = 90.0 + 5 * i - meld_drop * d
        labs.append(LabSample(f"d{d}", f"Day {d}", float(d), day(d), {"total_bilirubin": bili, "inr": (2.0 + 0.05 * i - 0.004 * d) * wobble,
                                                                      "creatinine": max(creat, 40.0)}))  # fmt: skip
    return SubjectData(
        subject_id=f"S{i:02d}", site="SYSU3", age=40 + i, sex="male" if i % 2 else "female", presentation="ACLF", arm=arm.split()[0],
        arm_label=arm, randomized_on=DAY0, doses=[day(d) for d in dose_days], infusions=infusions,
        died_on=day(died) if died is not None else None, death_cause=cause, death_domain="DS" if died is not None else "",
        last_known_alive=day(min(died - 1, 100) if died is not None else 100), labs=labs, adverse_events=list(aes),
        dosing_ends_day=23, follow_up_day=168, follow_up_window=14,
    )  # fmt: skip


INF = "Infections and infestations"
SUBJECTS = [
    # MSC-EV: an infusion reaction the day after dose 2, a related fever on a dose day, a severe sepsis on day 40
    subject(1, A, aes=[ae(1, "Infusion related reaction", "Injury, poisoning and procedural complications", 8)]),
    subject(2, A, aes=[ae(1, "Fever", "General disorders and administration site conditions", 14, relationship="possible")]),
    subject(3, A, aes=[ae(1, "Sepsis", INF, 40, grade=3, serious=True)], reaction_on=0),  # reaction on the dosing form only
    subject(4, A),
    subject(5, A, meld_drop=0.5),
    # control: an SAE on day 10 (not infusion-related), a death on day 20, a grade 3 infection after day 84
    subject(6, B, aes=[ae(1, "Ascites", "Gastrointestinal disorders", 10, grade=3, serious=True)]),
    subject(7, B, died=20, cause="Hepatorenal syndrome", doses=3,
            aes=[ae(1, "Hepatic failure", "Hepatobiliary disorders", 18, grade=5, serious=True, outcome="fatal")]),
    subject(8, B, aes=[ae(1, "Lung infection", INF, 90, grade=3)]),
    subject(9, B),
    subject(10, B),
]


@pytest.fixture(scope="module")
def report():
    rows_adsl = adsl(SUBJECTS, cutoff=CUTOFF)
    report, numbers = build_report(
        title="t", protocol_id="P", arms=[A, B], adsl=rows_adsl, adtte=adtte(SUBJECTS, [84, 168]), adlb=adlb(SUBJECTS),
        adae=adae(SUBJECTS), adex=adex(SUBJECTS), screenings=[], generated="now", at_days=[28.0, 84.0], reference_arm=B,
        cutoff=CUTOFF.isoformat(), change_days=[7.0, 14.0, 28.0, 84.0])  # fmt: skip
    return render(report), numbers


def counts(result):
    return {a["arm"]: (a["subjects_with_event"], a["subjects"]) for a in result["arms"]}


def test_primary_infusion_toxicity_ae_and_sae_to_day_28(report):
    _html, numbers = report
    primary = numbers["primary"]
    # S01 (IRR term the day after a dose), S02 (related, on a dose day), S03 (dosing form): 3 of 5; none in control
    assert counts(primary["infusion_toxicity_24h"]) == {A: (3, 5), B: (0, 5)}
    # to day 28: S01 (day 8), S02 (day 14); S06 (day 10), S07 (day 18); S03's sepsis (day 40) and S08's (day 90) are later
    assert counts(primary["ae_to_day_28"]) == {A: (2, 5), B: (2, 5)}
    assert counts(primary["sae_to_day_28"]) == {A: (0, 5), B: (2, 5)}
    assert primary["infusions"] == {A: {"given": 20, "with_reaction": 3}, B: {"given": 19, "with_reaction": 0}}
    # the difference reads MSC-EV minus control (the reference arm last)
    assert primary["infusion_toxicity_24h"]["compared"] == [A, B]


def test_severe_infections_to_day_84(report):
    _html, numbers = report
    assert counts(numbers["severe_infections"]) == {A: (1, 5), B: (0, 5)}  # S08's is on day 90


def test_follow_up_and_lab_completeness(report):
    html, numbers = report
    follow = numbers["follow_up"]
    # reverse KM on OS168: everyone alive is censored on day 100 (the cut-off); S07's death censors its follow-up at 20
    assert follow["median_follow_up_days"][A]["estimate"] == 100 and follow["median_follow_up_days"][B]["estimate"] == 100
    cells = {(c["visit_day"], c["arm"]): c for c in follow["lab_completeness"]}
    assert (cells[(28.0, B)]["due"], cells[(28.0, B)]["MELD"]) == (4, 4)  # S07 died on day 20: not due
    assert (cells[(84.0, A)]["due"], cells[(84.0, A)]["BILI"]) == (5, 5)
    assert "Lab values recorded at each scheduled visit" in html and "Ongoing" in html


def test_change_from_baseline_compares_the_arms_at_each_protocol_day(report):
    html, numbers = report
    bili = numbers["change_from_baseline"]["BILI"]
    assert [d["visit"] for d in bili["visits"]] == [7.0, 14.0, 28.0, 84.0]
    # MSC-EV bilirubin falls 10% a week, control's is flat: the ratio of geometric means is about 0.9 at day 7, 0.9^4 at 28
    ratios = [math.exp(d["difference"]) for d in bili["visits"]]
    assert ratios[0] == pytest.approx(0.9, abs=0.03) and ratios[2] == pytest.approx(0.9**4, abs=0.03)
    assert all(d["upper"] < 0 for d in bili["visits"])
    assert (bili["reference"], bili["other"]) == (B, A)
    # ANCOVA per visit: n - 3 df (control lost S07 before day 28); the mixed model beside it as a sensitivity analysis
    assert [d["df"] for d in bili["visits"]] == [7, 7, 6, 6]
    assert [d["visit"] for d in bili["sensitivity_mixed_model"]["differences"]] == [7.0, 14.0, 28.0, 84.0]
    assert "Change from baseline in total bilirubin (log scale), adjusted for baseline" in html
    assert set(numbers["change_from_baseline"]) == {"MELD", "BILI", "INR"}


def test_deaths_listing_has_the_cause_the_day_and_the_source(report):
    html, _numbers = report
    assert "Hepatorenal syndrome" in html and "2026-01-25 (20)" in html and "outcome form" in html
    assert "Primary outcome: safety" in html and "Multiplicity" in html
