"""The DSMB's stopping rules: safety metrics computed from the trial's adverse
events, doses and outcomes, and rules in the rule language over them.

A protocol's ``safety`` section declares *metrics* (counts of adverse events
of an arm, grade, term and relationship; deaths by a study day; the excess
mortality of one arm over another) and *stopping rules* (a condition over the
metrics: when it is true, the rule trips, and its action applies: pause or
stop dosing for every subject until the DSMB decides). Pure: records in,
numbers and verdicts out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from hepatrial.core.criteria.check import NUMBER, Vocabulary
from hepatrial.core.criteria.evaluate import Evidence, Fact, evaluate

if TYPE_CHECKING:  # pragma: no cover
    from hepatrial.core.protocol import Protocol, SafetyMetric


@dataclass(frozen=True)
class AeRecord:
    """One adverse event as the metrics see it."""

    subject_id: str
    arm: str | None
    term: str | None
    grade: int | None
    serious: bool | None
    relationship: str | None
    onset: date | None
    fatal: bool = False
    key: str = ""  # identifies the event (e.g. "ae:17"): what a trip was decided on


@dataclass(frozen=True)
class SubjectRecord:
    """One randomized subject: arm, day 0, and the date of death if known."""

    subject_id: str
    arm: str
    day0: date
    died_on: date | None = None


@dataclass(frozen=True)
class RuleVerdict:
    rule_id: str
    tripped: bool | None  # None: a metric is unknown
    display: str  # e.g. "ev_severe_reactions 2 >= 2"
    metrics: dict[str, float]
    evidence: tuple[str, ...] = ()  # the events behind the metrics the rule uses (AE keys, deaths)


def metric_value(metric: SafetyMetric, aes: list[AeRecord], subjects: list[SubjectRecord]) -> float:
    """The value of one metric over the trial's records."""
    if metric.kind == "adverse_events":
        return float(sum(1 for ae in aes if _matches(metric, ae)))
    if metric.kind == "deaths":
        return float(sum(1 for s in subjects if _dead_by(s, metric.by_day) and (metric.arm is None or s.arm == metric.arm)))
    if metric.kind == "mortality_excess":
        return _rate(subjects, metric.arm, metric.by_day) - _rate(subjects, metric.versus, metric.by_day)
    raise ValueError(f"unknown metric kind {metric.kind!r}")  # pragma: no cover - the schema allows no other


def metric_evidence(metric: SafetyMetric, aes: list[AeRecord], subjects: list[SubjectRecord]) -> frozenset[str]:
    """The events a metric's value rests on: the matching adverse events, or the
    deaths it counts. A new safety signal is a new element here, not a new value
    (a ratio changes with every randomization)."""
    if metric.kind == "adverse_events":
        return frozenset(ae.key for ae in aes if _matches(metric, ae))
    arms = {metric.arm, metric.versus} if metric.kind == "mortality_excess" else {metric.arm}
    return frozenset(f"death:{s.subject_id}" for s in subjects
                     if _dead_by(s, metric.by_day) and (metric.arm is None or s.arm in arms))  # fmt: skip


def _matches(metric: SafetyMetric, ae: AeRecord) -> bool:
    if metric.arm is not None and ae.arm != metric.arm:
        return False
    if metric.min_grade is not None and (ae.grade is None or ae.grade < metric.min_grade):
        return False
    if metric.terms and ae.term not in metric.terms:
        return False
    if metric.relationships and ae.relationship not in metric.relationships:
        return False
    if metric.serious is not None and ae.serious is not metric.serious:
        return False
    return True


def _dead_by(subject: SubjectRecord, by_day: int | None) -> bool:
    if subject.died_on is None:
        return False
    return by_day is None or (subject.died_on - subject.day0).days <= by_day


def _rate(subjects: list[SubjectRecord], arm: str | None, by_day: int | None) -> float:
    """Deaths by ``by_day`` over the subjects randomized to ``arm`` (0 when none is)."""
    cohort = [s for s in subjects if s.arm == arm]
    return sum(1 for s in cohort if _dead_by(s, by_day)) / len(cohort) if cohort else 0.0


def compute_metrics(protocol: Protocol, aes: list[AeRecord], subjects: list[SubjectRecord]) -> dict[str, float]:
    spec = protocol.safety
    if spec is None:
        return {}
    return {name: round(metric_value(m, aes, subjects), 12) for name, m in spec.metrics.items()}


def metric_vocabulary(protocol: Protocol) -> Vocabulary:
    """What a stopping rule may use: the metrics (numbers) and ``params.*``."""
    spec = protocol.safety
    names = spec.metrics if spec else {}
    return Vocabulary(fields={name: NUMBER for name in names}, params=protocol._rule_params(), functions=frozenset())


class _MetricFacts:
    def __init__(self, protocol: Protocol, values: dict[str, float]):
        self.labels = {n: m.label for n, m in (protocol.safety.metrics.items() if protocol.safety else ())}
        self.values = values

    def field(self, path: str) -> Fact:
        value = self.values.get(path)
        display = f"{path} {value:g}" if value is not None else f"{path} unknown"
        if value is None:
            return Fact(None, display, (), f"{self.labels.get(path, path)} unknown")
        return Fact(value, display, (Evidence("field", path, value),))

    def lab(self, func: str, test: str) -> Fact:  # pragma: no cover - not in the vocabulary
        raise ValueError("no lab function in a stopping rule")

    def score(self, name: str) -> Fact:  # pragma: no cover - not in the vocabulary
        raise ValueError("no score in a stopping rule")


def compute_evidence(protocol: Protocol, aes: list[AeRecord], subjects: list[SubjectRecord]) -> dict[str, frozenset[str]]:
    spec = protocol.safety
    if spec is None:
        return {}
    return {name: metric_evidence(m, aes, subjects) for name, m in spec.metrics.items()}


def evaluate_rules(protocol: Protocol, metrics: dict[str, float],
                   evidence: dict[str, frozenset[str]] | None = None) -> list[RuleVerdict]:  # fmt: skip
    """Each stopping rule of ``protocol`` over ``metrics``: tripped (true), not (false) or unknown."""
    spec = protocol.safety
    if spec is None:
        return []
    facts = _MetricFacts(protocol, metrics)
    verdicts = []
    for rule in spec.stopping_rules:
        outcome = evaluate(protocol.bound_stopping_rules[rule.id], facts)
        used = {e.name: float(e.value) for e in outcome.evidence if e.name in metrics}
        keys = sorted(set().union(*((evidence or {}).get(name, frozenset()) for name in used))) if used else []
        verdicts.append(RuleVerdict(rule.id, outcome.value, "; ".join(outcome.phrases) or outcome.display, used, tuple(keys)))
    return verdicts

