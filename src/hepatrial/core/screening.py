"""Screen one candidate against a protocol: a status, the evidence and a
one-line reason for every criterion, and the verdict.

Verdict: ``not_eligible`` if an inclusion criterion is not met or an
exclusion criterion is met; ``eligible`` if every inclusion is met and no
exclusion is; otherwise ``incomplete`` (something needed is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from hepatrial.core.candidate import Candidate, LabResult
from hepatrial.core.criteria.evaluate import (
    Evidence,
    Fact,
    evaluate,
    fmt_number,
    fmt_value,
)
from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.protocol import Protocol, ScreeningSettings
from hepatrial.core.scores.panel import (
    SCORE_LABELS,
    ScoreOutcome,
    compute_score,
    score_inputs,
)
from hepatrial.core.units import round_significant


def _lab_evidence(lab: LabResult, source: str = "lab") -> Evidence:
    detail = None
    if lab.unit_spelled and lab.unit_spelled != lab.canonical_unit:
        detail = {"value_canonical": lab.canonical_value, "unit_canonical": lab.canonical_unit}
    return Evidence(source, lab.test, lab.value, lab.unit_spelled, lab.at.isoformat(), detail)


def _lab_display(lab: LabResult) -> str:
    shown = f"{lab.test} {fmt_value(lab.value, lab.unit_spelled)}"
    if lab.unit_spelled and lab.unit_spelled != lab.canonical_unit:
        shown += f" ({fmt_value(lab.canonical_value, lab.canonical_unit)})"
    return shown


@dataclass
class CandidateFacts:
    """The evaluator's view of one candidate at its assessment time."""

    candidate: Candidate
    settings: ScreeningSettings = field(default_factory=ScreeningSettings)
    _scores: dict[str, ScoreOutcome] = field(default_factory=dict, repr=False)

    @classmethod
    def for_protocol(cls, candidate: Candidate, protocol: Protocol) -> CandidateFacts:
        return cls(candidate, protocol.screening)

    # --- fields --------------------------------------------------------------------
    def raw_field(self, path: str) -> Any:
        obj: Any = self.candidate
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    def field(self, path: str) -> Fact:
        value = self.raw_field(path)
        display = f"{path} {fmt_value(value)}"
        if value is None:
            return Fact(None, display, (), f"{path} not given")
        return Fact(value, display, (Evidence("field", path, value),))

    # --- labs --------------------------------------------------------------------------
    def latest_result(self, test: str) -> LabResult | None:
        """The latest result of ``test`` at or before the assessment, within the lookback."""
        since = self.candidate.assessed_at - timedelta(hours=self.settings.lookback_hours)
        results = [lab for lab in self.candidate.labs_of(test) if since <= lab.at <= self.candidate.assessed_at]
        return results[-1] if results else None

    def previous_result(self, test: str, latest: LabResult) -> LabResult | None:
        """The latest result of ``test`` drawn rise_min..rise_max hours before ``latest``."""
        low = latest.at - timedelta(hours=self.settings.daily_rise_max_hours)
        high = latest.at - timedelta(hours=self.settings.daily_rise_min_hours)
        results = [lab for lab in self.candidate.labs_of(test) if low <= lab.at <= high]
        return results[-1] if results else None

    def lab(self, func: str, test: str) -> Fact:
        latest = self.latest_result(test)
        if latest is None:
            why = f"no {test} result in the {fmt_number(self.settings.lookback_hours)} h before the assessment"
            return Fact(None, f"{func}({test})", (), why)
        if func == "latest":
            return Fact(latest.canonical_value, _lab_display(latest), (_lab_evidence(latest),))
        previous = self.previous_result(test, latest)
        if previous is None:
            why = (
                f"no {test} result {fmt_number(self.settings.daily_rise_min_hours)} h to "
                f"{fmt_number(self.settings.daily_rise_max_hours / 24)} days before the latest ({latest.at.isoformat()})"
            )
            return Fact(None, f"daily_rise({test})", (_lab_evidence(latest),), why)
        hours = (latest.at - previous.at).total_seconds() / 3600
        rise = round_significant((latest.canonical_value - previous.canonical_value) / hours * 24)
        unit = latest.canonical_unit
        display = f"{test} rise {fmt_value(rise, unit)} per 24 h over {fmt_number(round(hours, 1))} h"
        derived = Evidence("daily_rise", test, rise, unit, latest.at.isoformat(), {"hours": round(hours, 2)})
        return Fact(rise, display, (derived, _lab_evidence(latest), _lab_evidence(previous)))

    # --- scores ------------------------------------------------------------------------
    @cached_property
    def score_facts(self) -> dict[str, Any]:
        """Every input any score takes: latest lab values (canonical units) and bedside fields."""
        facts: dict[str, Any] = {}
        for name in dict.fromkeys(fact for score in SCORE_LABELS for fact in score_inputs(score)):
            if name in LAB_TESTS:
                latest = self.latest_result(name)
                facts[name] = latest.canonical_value if latest else None
            else:
                facts[name] = self.raw_field(name)
        return facts

    def score_outcome(self, name: str) -> ScoreOutcome:
        if name not in self._scores:
            self._scores[name] = compute_score(name, self.score_facts)
        return self._scores[name]

    def score(self, name: str) -> Fact:
        outcome = self.score_outcome(name)
        label = SCORE_LABELS[name]
        if outcome.value is None:
            why = outcome.error or f"missing {', '.join(outcome.missing)}"
            return Fact(None, label, (), f"{label} not computable: {why}")
        inputs: dict[str, Any] = {}
        for fact in score_inputs(name):
            lab = self.latest_result(fact) if fact in LAB_TESTS else None
            inputs[fact] = _lab_evidence(lab).to_dict() if lab else self.score_facts.get(fact)
        evidence = Evidence("score", name, outcome.value, detail={**outcome.details, "inputs": inputs})
        display = f"{label} {fmt_value(outcome.value)}"
        if outcome.compared_value != outcome.value:
            display += f" (unrounded {fmt_number(outcome.compared_value)})"
        return Fact(outcome.compared_value, display, (evidence,))


STATUS = {True: "met", False: "not_met", None: "unknown"}


def excludes(kind: str, status: str) -> bool:
    """Whether a criterion of ``kind`` (inclusion/exclusion) with ``status`` excludes the candidate."""
    return (kind == "inclusion" and status == "not_met") or (kind == "exclusion" and status == "met")


@dataclass(frozen=True)
class CriterionResult:
    id: str
    kind: str  # inclusion | exclusion
    text: str
    rule: str
    status: str  # met | not_met | unknown
    evidence: tuple[Evidence, ...]
    reason: str

    @property
    def excludes(self) -> bool:
        return excludes(self.kind, self.status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "rule": self.rule,
            "status": self.status,
            "evidence": [e.to_dict() for e in self.evidence],
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ScreeningResult:
    protocol: str
    candidate_id: str
    assessed_at: str
    verdict: str  # eligible | not_eligible | incomplete
    criteria: tuple[CriterionResult, ...]
    scores: dict[str, ScoreOutcome]

    @property
    def explanation(self) -> str:
        """Why the verdict: the excluding criteria, the unknown ones, or all clear."""
        if self.verdict == "not_eligible":
            return ", ".join(c.id for c in self.criteria if c.excludes)
        if self.verdict == "incomplete":
            return ", ".join(c.id for c in self.criteria if c.status == "unknown") + " unknown"
        return "every inclusion criterion met, no exclusion criterion met"

    @property
    def summary(self) -> str:
        return f"{self.verdict.replace('_', ' ')}: {self.explanation}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "candidate": self.candidate_id,
            "assessed_at": self.assessed_at,
            "verdict": self.verdict,
            "summary": self.summary,
            "criteria": [c.to_dict() for c in self.criteria],
            "scores": {name: s.to_dict() for name, s in self.scores.items()},
        }


def _reason(value: bool | None, phrases: tuple[str, ...], missing: tuple[str, ...]) -> str:
    if value is None:
        return "unknown: " + "; ".join(missing or ("data missing",))
    return "; ".join(phrases) if phrases else STATUS[value]


def verdict_of(criteria: tuple[CriterionResult, ...] | list[CriterionResult]) -> str:
    if any(c.excludes for c in criteria):
        return "not_eligible"
    if any(c.status == "unknown" for c in criteria):
        return "incomplete"
    return "eligible"


def screen(candidate: Candidate, protocol: Protocol) -> ScreeningResult:
    """Evaluate every criterion of ``protocol`` for ``candidate``."""
    facts = CandidateFacts.for_protocol(candidate, protocol)
    results = []
    for kind, criterion in protocol.all_criteria():
        outcome = evaluate(protocol.bound_rules[criterion.id], facts)
        results.append(
            CriterionResult(
                id=criterion.id,
                kind=kind,
                text=criterion.text,
                rule=criterion.rule,
                status=STATUS[outcome.value],
                evidence=outcome.evidence,
                reason=_reason(outcome.value, outcome.phrases, outcome.missing),
            )
        )
    criteria = tuple(results)
    return ScreeningResult(
        protocol=protocol.id,
        candidate_id=candidate.id,
        assessed_at=candidate.assessed_at.isoformat(),
        verdict=verdict_of(criteria),
        criteria=criteria,
        scores=candidate_scores(candidate, facts),
    )


def candidate_scores(
    candidate: Candidate, facts: CandidateFacts | None = None, settings: ScreeningSettings | None = None
) -> dict[str, ScoreOutcome]:
    """Every score for ``candidate`` (computed, or with its missing inputs), from
    the latest results under ``settings`` (a protocol's, or the defaults)."""
    facts = facts or CandidateFacts(candidate, settings or ScreeningSettings())
    return {name: facts.score_outcome(name) for name in SCORE_LABELS}
