"""The rule language's syntax tree.

The parser produces these nodes with :class:`Name` for every identifier; the
checker (:mod:`.check`) resolves names to fields, parameters (folded into
literals) and definitions, binds unit literals to the analyte they are
compared with (converted to its canonical unit) and folds constants. A
*bound* tree contains only the node types below except ``Name``: that is what
the evaluator runs on one candidate and what a SQL compiler can translate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

Span = tuple[int, int]
"""Start and end offsets (0-based, end exclusive) in the rule text."""


def _span() -> Span:
    return field(default=(0, 0), kw_only=True, compare=False, repr=False)  # type: ignore[return-value]


@dataclass(frozen=True)
class Literal:
    """A constant: number (with an optional unit), string, boolean or null.

    ``origin`` names the protocol parameter it came from, if any."""

    value: float | str | bool | None
    unit: str | None = None
    origin: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    """An identifier path as written (``age``, ``history.dic``, ``params.x``); unbound."""

    path: tuple[str, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Field:
    """A field of the candidate record (dotted path, e.g. ``history.dic``)."""

    path: str
    span: Span = _span()


@dataclass(frozen=True)
class LabRef:
    """The name of a laboratory test, as the argument of a lab function."""

    test: str
    span: Span = _span()


@dataclass(frozen=True)
class DefRef:
    """A named definition of the protocol (``aclf``), with its bound body."""

    name: str
    body: "Node | None" = None
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """``latest(total_bilirubin)``, ``daily_rise(total_bilirubin)``, ``meld()`` ..."""

    func: str
    args: tuple["Node", ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Compare:
    """A chain ``a op1 b op2 c``: true when every adjacent pair holds."""

    ops: tuple[str, ...]
    operands: tuple["Node", ...]
    span: Span = _span()


@dataclass(frozen=True)
class InList:
    operand: "Node"
    items: tuple[Literal, ...]
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class IsTest:
    """``x is null`` / ``x is not false``: two-valued, never unknown."""

    operand: "Node"
    value: bool | None
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple["Node", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    operand: "Node"
    span: Span = _span()


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: "Node"
    right: "Node"
    span: Span = _span()


@dataclass(frozen=True)
class Neg:
    operand: "Node"
    span: Span = _span()


Node = Union[Literal, Name, Field, LabRef, DefRef, Call, Compare, InList, IsTest, BoolOp, Not, Arith, Neg]


def walk(node: Node):
    """Every node of the tree, parents before children (definitions included)."""
    yield node
    children: tuple = ()
    if isinstance(node, (Call,)):
        children = node.args
    elif isinstance(node, (Compare, BoolOp)):
        children = node.operands
    elif isinstance(node, InList):
        children = (node.operand, *node.items)
    elif isinstance(node, (IsTest, Not, Neg)):
        children = (node.operand,)
    elif isinstance(node, Arith):
        children = (node.left, node.right)
    elif isinstance(node, DefRef) and node.body is not None:
        children = (node.body,)
    for child in children:
        yield from walk(child)
