"""The DSMB's stopping rules of NCT05940610 (hepatrial.core.safety.stopping):
each trips exactly at its threshold and not one event below it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from hepatrial.core.protocol import ProtocolError, load_protocol, load_protocol_file, packaged_protocols
from hepatrial.core.safety.stopping import AeRecord, SubjectRecord, compute_metrics, evaluate_rules

DAY0 = date(2026, 3, 2)


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


def ae(arm="msc_ev", term="Infusion related reaction", grade=3, relationship="possible", fatal=False, subject="S-1"):
    return AeRecord(subject, arm, term, grade, grade >= 3, relationship, DAY0, fatal)


def subjects(ev_deaths: int, control_deaths: int, n: int = 10, day: int = 20) -> list[SubjectRecord]:
    out = []
    for arm, deaths in (("msc_ev", ev_deaths), ("control", control_deaths)):
        for i in range(n):
            died = DAY0 + timedelta(days=day) if i < deaths else None
            out.append(SubjectRecord(f"{arm}-{i}", arm, DAY0, died))
    return out


def verdicts(protocol, aes, subjs=()):
    metrics = compute_metrics(protocol, list(aes), list(subjs))
    return {v.rule_id: v.tripped for v in evaluate_rules(protocol, metrics)}, metrics


def test_two_severe_reactions_in_the_ev_arm_pause_dosing_one_does_not(protocol):
    one, metrics = verdicts(protocol, [ae()])
    assert metrics["ev_severe_reactions"] == 1 and one["pause_severe_reactions"] is False
    two, metrics = verdicts(protocol, [ae(), ae(term="Allergic reaction", grade=4)])
    assert metrics["ev_severe_reactions"] == 2 and two["pause_severe_reactions"] is True


@pytest.mark.parametrize(
    "event",
    [
        ae(arm="control"),  # the control arm's reactions do not count
        ae(grade=2),  # below grade 3
        ae(term="Fever"),  # another term
    ],
)
def test_what_does_not_count_toward_the_reaction_rule(protocol, event):
    tripped, metrics = verdicts(protocol, [ae(), event])
    assert metrics["ev_severe_reactions"] == 1 and tripped["pause_severe_reactions"] is False


def test_a_related_death_stops_dosing(protocol):
    for relationship, expected in [("possible", False), ("probable", True), ("definite", True), ("unlikely", False)]:
        tripped, _ = verdicts(protocol, [ae(term="Hepatic failure", grade=5, relationship=relationship, fatal=True)])
        assert tripped["stop_related_death"] is expected, relationship
    tripped, _ = verdicts(protocol, [ae(term="Hepatic failure", grade=4, relationship="definite")])
    assert tripped["stop_related_death"] is False  # not a death


def test_excess_28_day_mortality_trips_above_the_margin_only(protocol):
    # margin 0.2 with 10 per arm: 3 vs 1 deaths is +0.2 (not above); 4 vs 1 is +0.3
    at, metrics = verdicts(protocol, [], subjects(3, 1))
    assert metrics["mortality_excess_28d"] == pytest.approx(0.2) and at["pause_excess_mortality"] is False
    above, metrics = verdicts(protocol, [], subjects(4, 1))
    assert metrics["mortality_excess_28d"] == pytest.approx(0.3) and above["pause_excess_mortality"] is True
    # deaths after day 28 do not count
    late, metrics = verdicts(protocol, [], subjects(4, 1, day=29))
    assert metrics["mortality_excess_28d"] == 0 and late["pause_excess_mortality"] is False
    # a single death (1 of 2 randomized = +0.5) does not trip: at least 2 deaths in the MSC-EV arm
    few = [SubjectRecord("a", "msc_ev", DAY0, DAY0 + timedelta(days=3)), SubjectRecord("b", "msc_ev", DAY0),
           SubjectRecord("c", "control", DAY0)]  # fmt: skip
    small, metrics = verdicts(protocol, [], few)
    assert metrics["mortality_excess_28d"] == 0.5 and small["pause_excess_mortality"] is False


def test_no_records_trip_nothing(protocol):
    tripped, metrics = verdicts(protocol, [])
    assert set(tripped.values()) == {False} and set(metrics.values()) == {0.0}


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = packaged_protocols()["NCT05940610"].read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "p.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "old, new, where, reason",
    [
        ("rule: ev_severe_reactions >= 2", "rule: ev_severe_reaction >= 2", "safety.stopping_rules[0].rule", "unknown"),
        ("      arm: msc_ev\n      min_grade: 3", "      arm: placebo\n      min_grade: 3", "safety.metrics.ev_severe_reactions.arm",
         "unknown arm 'placebo'"),
        ("terms: [Infusion related reaction, Allergic reaction, Anaphylaxis]", "terms: [Infusion reaction]",
         "safety.metrics.ev_severe_reactions.terms[0]", "'Infusion reaction' is not a term of 'term'"),
        ("relationships: [probable, definite]", "relationships: [likely]", "safety.metrics.related_deaths.relationships[0]",
         "'likely' is not a choice of 'relationship'"),
        ("  grade_field: grade\n", "  grade_field: serious\n", "safety.grade_field", "'serious' is a boolean field"),
        ("      action: pause_dosing\n", "      action: halt\n", "safety.stopping_rules[0].action", "pause_dosing"),
        ("      by_day: 28\n    ev_randomized", "      min_grade: 3\n    ev_randomized", "safety.metrics.mortality_excess_28d",
         "min_grade: only an adverse_events metric filters events"),
        ("    kind: log\n", "    kind: unscheduled\n", "visits[9].forms", "belongs to a log visit"),
    ],
)
def test_a_broken_safety_section_is_refused_with_its_path(tmp_path, old, new, where, reason):
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(broken(tmp_path, old, new))
    assert any(p[0].startswith(where) and reason in p[2] for p in info.value.problems), info.value.problems
