"""Properties of screening that must hold for every patient (hypothesis).

1. The same patient reported in mg/dL or in umol/L (bilirubin, creatinine),
   g/dL or g/L (albumin), BUN mg/dL or urea mmol/L gets the same verdict, the
   same status for every criterion and the same scores.
2. Adding a missing value never changes a known status (Kleene logic is
   monotone): so it never turns ``not_eligible`` into ``eligible``; only a
   criterion that was unknown can change. "A missing value" is a field, a
   history item, every result of one test, or the earlier bilirubin the daily
   rise needs. A *newer* result is not a missing value: it replaces the
   latest one, and may change anything.
"""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hepatrial.core.candidate import parse_candidate
from hepatrial.core.protocol import load_protocol
from hepatrial.core.screening import screen

PROTOCOL = load_protocol("NCT05940610")
NOW = "2026-11-20T09:00:00+08:00"
EARLIER = "2026-11-19T08:00:00+08:00"
HISTORY_KEYS = [
    "liver_cancer", "active_bleeding", "dic", "allergy_plasma_heparin_protamine", "heart_disease",
    "lung_disease", "blood_disease", "autoimmune_disease", "diabetes", "uncontrolled_infection",
]  # fmt: skip
FIELDS = [
    "age", "sex", "presentation", "chronic_liver_disease", "weeks_insult_to_complication",
    "weeks_symptoms_to_encephalopathy", "encephalopathy_grade", "ascites", "dialysis_twice_past_week",
]  # fmt: skip


def tenths(low: float, high: float):
    """Values as laboratories report them: one decimal."""
    return st.integers(int(low * 10), int(high * 10)).map(lambda n: n / 10)


@st.composite
def patients(draw):
    """A plausible liver-failure candidate, mostly near the protocol's boundaries, in SI units."""
    data = {
        "id": "P",
        "assessed_at": NOW,
        "age": draw(st.integers(15, 70)),
        "sex": draw(st.sampled_from(["male", "female"])),
        "presentation": draw(st.sampled_from(["ACLF", "ALF"])),
        "chronic_liver_disease": draw(st.booleans()),
        "weeks_insult_to_complication": draw(st.integers(0, 6)),
        "weeks_symptoms_to_encephalopathy": draw(st.integers(0, 10)),
        "encephalopathy_grade": draw(st.integers(0, 4)),
        "ascites": draw(st.sampled_from(["none", "mild", "moderate", "severe"])),
        "dialysis_twice_past_week": draw(st.booleans()),
        "labs": [
            {"test": "total_bilirubin", "value": draw(tenths(100, 700)), "unit": "umol/L", "at": NOW},
            {"test": "total_bilirubin", "value": draw(tenths(100, 700)), "unit": "umol/L", "at": EARLIER},
            {"test": "creatinine", "value": draw(tenths(30, 500)), "unit": "umol/L", "at": NOW},
            {"test": "albumin", "value": draw(st.integers(15, 45)), "unit": "g/L", "at": NOW},
            {"test": "urea", "value": draw(tenths(1, 40)), "unit": "mmol/L", "at": NOW},
            {"test": "inr", "value": draw(st.integers(100, 350).map(lambda n: n / 100)), "at": NOW},
            {"test": "prothrombin_activity", "value": draw(st.integers(10, 60)), "unit": "%", "at": NOW},
            {"test": "sodium", "value": draw(st.integers(120, 145)), "unit": "mmol/L", "at": NOW},
            {"test": "neutrophils", "value": draw(tenths(0.5, 20)), "unit": "10^9/L", "at": NOW},
            {"test": "wbc", "value": draw(tenths(1, 30)), "unit": "10^9/L", "at": NOW},
            {"test": "lactate", "value": draw(tenths(0.5, 8)), "unit": "mmol/L", "at": NOW},
        ],
        "history": {key: draw(st.booleans()) if draw(st.integers(0, 9)) == 0 else False for key in HISTORY_KEYS},
    }
    return data


# Reported-unit alternatives: (test, SI unit, conventional unit, SI value per conventional unit).
CONVENTIONAL = {
    "total_bilirubin": ("mg/dL", 17.1),
    "creatinine": ("mg/dL", 88.4),
    "albumin": ("g/dL", 10.0),
    "urea": ("mg/dL", 1 / 2.8),  # BUN mg/dL -> urea mmol/L
}


def in_conventional_units(data: dict) -> dict:
    """The same patient, each convertible lab reported in its conventional unit (exact quotient)."""
    out = copy.deepcopy(data)
    for lab in out["labs"]:
        if lab["test"] in CONVENTIONAL:
            unit, si_per_conventional = CONVENTIONAL[lab["test"]]
            lab["value"] = lab["value"] / si_per_conventional
            lab["unit"] = unit
    return out


def outcome(data: dict):
    result = screen(parse_candidate(data), PROTOCOL)
    return result.verdict, {c.id: c.status for c in result.criteria}, {n: s.value for n, s in result.scores.items()}


def boundary_patient() -> dict:
    """Eligible, with bilirubin exactly 171 umol/L (= 10 mg/dL) and a rise of exactly 17.1/24 h."""
    labs = [
        {"test": "total_bilirubin", "value": 171.0, "unit": "umol/L", "at": NOW},
        {"test": "total_bilirubin", "value": 153.9, "unit": "umol/L", "at": "2026-11-19T09:00:00+08:00"},
        {"test": "creatinine", "value": 88.4, "unit": "umol/L", "at": NOW},
        {"test": "albumin", "value": 35, "unit": "g/L", "at": NOW},
        {"test": "inr", "value": 1.5, "at": NOW},
    ]
    return {
        "id": "B", "assessed_at": NOW, "age": 18, "sex": "female", "presentation": "ACLF",
        "chronic_liver_disease": True, "weeks_insult_to_complication": 4, "encephalopathy_grade": 2,
        "ascites": "mild", "dialysis_twice_past_week": False, "labs": labs,
        "history": dict.fromkeys(HISTORY_KEYS, False),
    }  # fmt: skip


def test_boundary_patient_is_eligible_in_both_units():
    assert outcome(boundary_patient())[0] == "eligible"
    assert outcome(in_conventional_units(boundary_patient()))[0] == "eligible"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients())
@example(boundary_patient())
def test_units_do_not_change_the_verdict_or_the_scores(data):
    assert outcome(in_conventional_units(data)) == outcome(data)


def removals(data: dict):
    """Every single piece of data that can be missing: a field, a history item, a lab test."""
    for name in FIELDS:
        yield f"field {name}", lambda d, n=name: {**d, n: None}
    for key in HISTORY_KEYS:
        yield f"history {key}", lambda d, k=key: {**d, "history": {**d["history"], k: None}}
    for test in sorted({lab["test"] for lab in data["labs"]}):
        yield f"lab {test}", lambda d, t=test: {**d, "labs": [lab for lab in d["labs"] if lab["test"] != t]}
    yield "previous bilirubin", lambda d: {**d, "labs": [lab for lab in d["labs"] if lab["at"] != EARLIER]}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients(), st.data())
def test_adding_a_missing_value_never_changes_a_known_status(complete, data):
    # remove a random set of data, then add back one removed piece at a time
    pieces = list(removals(complete))
    chosen = data.draw(st.lists(st.sampled_from(range(len(pieces))), unique=True, max_size=6))
    partial = complete
    for i in chosen:
        partial = pieces[i][1](partial)
    before_verdict, before, _ = outcome(partial)
    for i in chosen:
        # "add back" piece i: remove every chosen piece except i from the complete record
        fuller = complete
        for j in chosen:
            if j != i:
                fuller = pieces[j][1](fuller)
        after_verdict, after, _ = outcome(fuller)
        for cid, status in before.items():
            if status != "unknown":
                assert after[cid] == status, (pieces[i][0], cid, status, after[cid])
        if before_verdict == "not_eligible":
            assert after_verdict == "not_eligible"
