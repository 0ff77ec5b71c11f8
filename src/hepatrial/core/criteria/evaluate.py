"""Evaluate a bound rule for one candidate, in three-valued (Kleene) logic.

A condition is True, False or None (unknown: the data needed is missing —
never a guess). ``and`` is False as soon as one operand is False, ``or`` True
as soon as one is True; otherwise an unknown operand makes the result
unknown. Every outcome carries the evidence that decided it (values, units,
times), the decisive facts as short phrases, and what was missing.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from hepatrial.core.criteria.ast import (
    Arith,
    BoolOp,
    Call,
    Compare,
    DefRef,
    Field,
    InList,
    IsTest,
    LabRef,
    Literal,
    Neg,
    Node,
    Not,
)
from hepatrial.core.criteria.check import SCORE_FUNCTIONS


@dataclass(frozen=True)
class Evidence:
    """One value a decision used."""

    source: str  # "field" | "lab" | "daily_rise" | "score"
    name: str
    value: Any
    unit: str | None = None
    at: str | None = None  # ISO 8601
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"source": self.source, "name": self.name, "value": self.value}
        if self.unit is not None:
            out["unit"] = self.unit
        if self.at is not None:
            out["at"] = self.at
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Fact:
    """What the data says about one field, lab function or score."""

    value: Any  # None: unknown
    display: str  # e.g. "total_bilirubin 250 umol/L", "age 52", "MELD 27"
    evidence: tuple[Evidence, ...] = ()
    missing: str | None = None  # why it is unknown


class Facts(Protocol):
    """The data of one candidate, as the evaluator asks for it."""

    def field(self, path: str) -> Fact: ...

    def lab(self, func: str, test: str) -> Fact: ...

    def score(self, name: str) -> Fact: ...


@dataclass(frozen=True)
class Outcome:
    value: Any
    evidence: tuple[Evidence, ...] = ()
    phrases: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    display: str = ""


def _unique(items) -> tuple:
    seen, out = set(), []
    for item in items:
        key = repr(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)


def fmt_number(value: float) -> str:
    """A number as a person writes it: 171, 17.1, 1.5, 1e+10."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.6g}"


def fmt_value(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    text = fmt_number(value)
    return f"{text} {unit}" if unit and unit != "ratio" else text


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_FLIP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@dataclass
class Evaluator:
    facts: Facts

    def __call__(self, node: Node) -> Outcome:
        return getattr(self, f"eval_{type(node).__name__.lower()}")(node)

    # --- values -------------------------------------------------------------
    def eval_literal(self, node: Literal) -> Outcome:
        display = fmt_value(node.value, node.unit)
        if node.origin and node.origin != display.replace('"', ""):
            display = f"{display} ({node.origin})"
        return Outcome(node.value, display=display)

    def _fact(self, fact: Fact) -> Outcome:
        missing = (fact.missing,) if fact.value is None and fact.missing else ()
        return Outcome(fact.value, fact.evidence, display=fact.display, missing=missing)

    def eval_field(self, node: Field) -> Outcome:
        out = self._fact(self.facts.field(node.path))
        if isinstance(out.value, bool):  # a yes/no field used as a condition states itself
            return Outcome(out.value, out.evidence, (out.display,), out.missing, out.display)
        return out

    def eval_call(self, node: Call) -> Outcome:
        if node.func == "date":  # the date part of a date and time, in its own UTC offset
            inner = self(node.args[0])
            value = inner.value.date() if isinstance(inner.value, datetime) else inner.value
            display = inner.display if value is None or value is inner.value else f"{inner.display} (date {value.isoformat()})"
            return Outcome(value, inner.evidence, missing=inner.missing, display=display)
        if node.func in SCORE_FUNCTIONS:
            return self._fact(self.facts.score(node.func))
        arg = node.args[0]
        assert isinstance(arg, LabRef)
        return self._fact(self.facts.lab(node.func, arg.test))

    def eval_defref(self, node: DefRef) -> Outcome:
        inner = self(node.body)  # type: ignore[arg-type]
        phrase = f"{node.name}: {'; '.join(inner.phrases)}" if inner.phrases else node.name
        return Outcome(inner.value, inner.evidence, (phrase,), inner.missing, display=node.name)

    def eval_neg(self, node: Neg) -> Outcome:
        inner = self(node.operand)
        value = None if inner.value is None else -inner.value
        return Outcome(value, inner.evidence, missing=inner.missing, display=f"-{inner.display}")

    def eval_arith(self, node: Arith) -> Outcome:
        left, right = self(node.left), self(node.right)
        display = f"{left.display} {node.op} {right.display}"
        missing = left.missing + right.missing
        value = None
        if left.value is not None and right.value is not None:
            if node.op == "/" and right.value == 0:
                missing += (f"{display}: division by zero",)
            else:
                value = _ARITH[node.op](left.value, right.value)
        return Outcome(value, _unique(left.evidence + right.evidence), missing=missing, display=display)

    # --- conditions ---------------------------------------------------------
    def eval_compare(self, node: Compare) -> Outcome:
        parts = [self(o) for o in node.operands]
        evidence = _unique(e for p in parts for e in p.evidence)
        missing = tuple(m for p in parts for m in p.missing)
        unknown = [p for p in parts if p.value is None]
        if unknown:
            return Outcome(None, evidence, missing=missing or tuple(f"{p.display} unknown" for p in unknown))
        for i, op in enumerate(node.ops):
            a, b = parts[i], parts[i + 1]
            if not _OPS[op](a.value, b.value):
                phrase = f"{a.display} {_FLIP[op]} {b.display}"
                return Outcome(False, evidence, (phrase,))
        chain = parts[0].display + "".join(f" {op} {p.display}" for op, p in zip(node.ops, parts[1:]))
        return Outcome(True, evidence, (chain,))

    def eval_inlist(self, node: InList) -> Outcome:
        subject = self(node.operand)
        items = ", ".join(fmt_value(i.value, i.unit) for i in node.items)
        if subject.value is None:
            return Outcome(None, subject.evidence, missing=subject.missing or (f"{subject.display} unknown",))
        inside = any(subject.value == i.value for i in node.items)
        value = inside != node.negated
        phrase = f"{subject.display} {'in' if inside else 'not in'} ({items})"
        return Outcome(value, subject.evidence, (phrase,))

    def eval_istest(self, node: IsTest) -> Outcome:
        subject = self(node.operand)
        value = (subject.value is node.value) != node.negated
        return Outcome(value, subject.evidence, (f"{subject.display}",))

    def eval_not(self, node: Not) -> Outcome:
        inner = self(node.operand)
        value = None if inner.value is None else not inner.value
        return Outcome(value, inner.evidence, tuple(f"not ({p})" for p in inner.phrases), inner.missing)

    def eval_boolop(self, node: BoolOp) -> Outcome:
        parts = [self(o) for o in node.operands]
        decisive_value = node.op == "or"  # True decides an 'or', False decides an 'and'
        decisive = [p for p in parts if p.value is decisive_value]
        if decisive:
            value, chosen = decisive_value, decisive
        elif all(p.value is not None for p in parts):
            value, chosen = not decisive_value, parts
        else:
            value, chosen = None, [p for p in parts if p.value is None]
        return Outcome(
            value,
            _unique(e for p in chosen for e in p.evidence),
            _unique(ph for p in chosen for ph in p.phrases),
            _unique(m for p in chosen for m in p.missing),
        )


def evaluate(node: Node, facts: Facts) -> Outcome:
    """Evaluate the bound rule ``node`` over ``facts``."""
    return Evaluator(facts)(node)
