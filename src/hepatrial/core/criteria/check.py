"""Resolve and type-check a parsed rule against the protocol's vocabulary.

The result is a *bound* tree (see :mod:`.ast`): parameters folded into
literals, unit literals converted to the canonical unit of the analyte they
are compared with, constants folded, names resolved to fields, lab tests and
definitions. Every mistake is a :class:`RuleError` at the offending position.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Any

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
    Name,
    Neg,
    Node,
    Not,
)
from hepatrial.core.criteria.parser import RuleError, parse
from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.units import UnitError, convert, round_significant

#: Functions over one lab test, evaluated at the assessment time.
LAB_FUNCTIONS = {
    "latest": "the latest result at or before the assessment, within the lookback window",
    "daily_rise": "the rise from the previous result (drawn within the protocol's daily-rise window), per 24 h",
}
#: Score functions (no arguments): the score computed from the candidate's latest results.
SCORE_FUNCTIONS = {
    "meld": "MELD (OPTN/UNOS)",
    "meld_na": "MELD-Na (OPTN 2016)",
    "meld_3_0": "MELD 3.0 (Kim 2021)",
    "child_pugh": "Child-Pugh points (5-15)",
    "clif_c_of": "CLIF-C organ failure score (6-18)",
    "aclf_grade": "EASL-CLIF ACLF grade (0-3)",
    "clif_c_aclf": "CLIF-C ACLF score",
    "aarc": "APASL AARC score (5-15)",
    "cossh_aclf_ii": "COSSH-ACLF II score",
}
#: Functions over dates: ``date(x)`` is the date part of a date and time (a date stays itself).
DATE_FUNCTIONS = {"date": "the date part of a date and time (in the time's own UTC offset)"}
FUNCTIONS = {
    **LAB_FUNCTIONS,
    **SCORE_FUNCTIONS,
    "score": "score(NAME): the score named by a string",
    **DATE_FUNCTIONS,
}
#: Kinds of value that are points in time: they compare with each other only.
TEMPORAL_KINDS = ("date", "datetime")


@dataclass(frozen=True)
class Type:
    kind: str  # "bool" | "number" | "string" | "quantity" | "date" | "datetime"
    unit: str | None = None  # quantities: canonical spelling
    analyte: str | None = None  # quantities that are results of a lab test
    enum: tuple[str, ...] | None = None  # strings with a closed set of values

    def describe(self) -> str:
        if self.kind == "quantity":
            return f"{self.analyte} in {self.unit}" if self.analyte else f"a quantity in {self.unit}"
        if self.kind == "string" and self.enum:
            return "one of " + ", ".join(repr(e) for e in self.enum)
        return {
            "bool": "a condition (true/false)",
            "number": "a number",
            "string": "text",
            "date": "a date",
            "datetime": "a date and time",
        }[self.kind]

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "quantity")


BOOL, NUMBER, STRING = Type("bool"), Type("number"), Type("string")
DATE, DATETIME = Type("date"), Type("datetime")


class DefinitionCycle(Exception):
    """Definitions that refer to each other in a circle (reported where the circle closes)."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(" -> ".join(names))


@dataclass
class Vocabulary:
    """What a rule may refer to: candidate fields, protocol parameters, definitions."""

    fields: dict[str, Type]
    params: dict[str, tuple[Any, str | None]] = field(default_factory=dict)  # name -> (value, unit)
    definitions: dict[str, str] = field(default_factory=dict)  # name -> rule text
    #: The functions a rule may call (None: all of :data:`FUNCTIONS`). Form edit
    #: checks, which see one form's values and no lab history, allow only date().
    functions: frozenset[str] | None = None
    _bound: dict[str, tuple[Node, Type]] = field(default_factory=dict, repr=False)
    _visiting: list[str] = field(default_factory=list, repr=False)

    def definition(self, name: str) -> tuple[Node, Type]:
        """The bound body of definition ``name`` (bound once; a cycle raises :class:`DefinitionCycle`)."""
        if name in self._bound:
            return self._bound[name]
        if name in self._visiting:
            raise DefinitionCycle(self._visiting[self._visiting.index(name) :] + [name])
        self._visiting.append(name)
        try:
            node, type_ = bind(self.definitions[name], self, where=f"definitions.{name}")
        finally:
            self._visiting.pop()
        self._bound[name] = (node, type_)
        return node, type_


def _literal_type(lit: Literal) -> Type:
    if isinstance(lit.value, bool):
        return BOOL
    if isinstance(lit.value, str):
        return STRING
    if lit.value is None:
        return Type("null")
    if lit.unit and lit.unit != "ratio":
        return Type("quantity", unit=lit.unit)
    return NUMBER


class _Binder:
    def __init__(self, text: str, vocab: Vocabulary):
        self.text = text
        self.vocab = vocab

    def error(self, node: Node, message: str) -> RuleError:
        return RuleError(message, self.text, node.span[0])

    def source(self, node: Node) -> str:
        return self.text[node.span[0] : node.span[1]]

    # ----------------------------------------------------------------------------
    def bind(self, node: Node) -> tuple[Node, Type]:
        method = getattr(self, f"bind_{type(node).__name__.lower()}")
        return method(node)

    def bind_literal(self, node: Literal) -> tuple[Node, Type]:
        if node.value is None:
            raise self.error(node, "null can only be tested with 'is null' / 'is not null'")
        return node, _literal_type(node)

    def bind_name(self, node: Name) -> tuple[Node, Type]:
        dotted = node.dotted
        if node.path[0] == "params":
            if len(node.path) != 2:
                raise self.error(node, "write a parameter as params.NAME")
            name = node.path[1]
            if name not in self.vocab.params:
                raise self.error(node, f"unknown parameter {name!r}{_suggest(name, self.vocab.params)}")
            value, unit = self.vocab.params[name]
            if isinstance(value, (list, dict)) or (value is None):
                raise self.error(node, f"parameter {name!r} is not a single value and cannot be used in a rule")
            lit = Literal(value, unit, origin=dotted, span=node.span)
            return lit, _literal_type(lit)
        if len(node.path) == 1 and dotted in self.vocab.definitions:
            try:
                body, type_ = self.vocab.definition(dotted)
            except DefinitionCycle as cycle:
                raise self.error(node, f"definitions refer to each other in a circle: {cycle}") from None
            except RuleError as err:
                if err.criterion:
                    raise
                raise err.for_criterion(f"definitions.{dotted}") from None
            return DefRef(dotted, body, span=node.span), type_
        if dotted in self.vocab.fields:
            return Field(dotted, span=node.span), self.vocab.fields[dotted]
        if dotted in LAB_TESTS:
            raise self.error(node, f"{dotted} is a lab test: write latest({dotted}) or daily_rise({dotted})")
        known = [*self.vocab.fields, *self.vocab.definitions]
        raise self.error(node, f"unknown name {dotted!r}{_suggest(dotted, known)}")

    def bind_call(self, node: Call) -> tuple[Node, Type]:
        allowed = self.vocab.functions
        if allowed is not None and node.func in FUNCTIONS and node.func not in allowed:
            here = ", ".join(f"{f}()" for f in sorted(allowed)) or "none"
            raise self.error(node, f"{node.func}() cannot be used here (available: {here})")
        if node.func in DATE_FUNCTIONS:
            if len(node.args) != 1:
                raise self.error(node, "date() takes one date or date-and-time value, e.g. date(sample_datetime)")
            arg, type_ = self.bind(node.args[0])
            if type_.kind not in TEMPORAL_KINDS:
                raise self.error(node.args[0], f"date() needs a date or a date and time, not {type_.describe()}")
            return (arg if type_.kind == "date" else Call("date", (arg,), span=node.span)), DATE
        if node.func in LAB_FUNCTIONS:
            if len(node.args) != 1 or not isinstance(node.args[0], Name) or len(node.args[0].path) != 1:
                raise self.error(node, f"{node.func}() takes one lab test name, e.g. {node.func}(total_bilirubin)")
            arg = node.args[0]
            test = LAB_TESTS.get(arg.dotted)
            if test is None:
                raise self.error(arg, f"unknown lab test {arg.dotted!r}{_suggest(arg.dotted, LAB_TESTS)}")
            bound = Call(node.func, (LabRef(test.name, span=arg.span),), span=node.span)
            return bound, Type("quantity", unit=test.canonical_unit, analyte=test.name)
        if node.func in SCORE_FUNCTIONS:
            if node.args:
                raise self.error(node, f"{node.func}() takes no arguments")
            return Call(node.func, span=node.span), NUMBER
        if node.func == "score":
            if len(node.args) != 1:
                raise self.error(node, "score() takes one score name, e.g. score(\"meld\")")
            arg, _ = self.bind(node.args[0])
            if not (isinstance(arg, Literal) and isinstance(arg.value, str)):
                raise self.error(node.args[0], "score() needs a constant score name")
            if arg.value not in SCORE_FUNCTIONS:
                raise self.error(node.args[0], f"unknown score {arg.value!r}; known: {', '.join(SCORE_FUNCTIONS)}")
            return Call(arg.value, span=node.span), NUMBER
        raise self.error(node, f"unknown function {node.func!r}{_suggest(node.func, FUNCTIONS)}")

    def _condition(self, node: Node) -> Node:
        bound, type_ = self.bind(node)
        if type_.kind != "bool":
            raise self.error(node, f"{self.source(node)!r} is {type_.describe()}, not a condition; compare it")
        return bound

    def bind_boolop(self, node: BoolOp) -> tuple[Node, Type]:
        return BoolOp(node.op, tuple(self._condition(o) for o in node.operands), span=node.span), BOOL

    def bind_not(self, node: Not) -> tuple[Node, Type]:
        return Not(self._condition(node.operand), span=node.span), BOOL

    def bind_istest(self, node: IsTest) -> tuple[Node, Type]:
        operand, type_ = self.bind(node.operand)
        if node.value is not None and type_.kind != "bool":
            word = "true" if node.value else "false"
            raise self.error(node, f"'is {word}' applies to a yes/no value, not {type_.describe()}")
        return replace(node, operand=operand), BOOL

    def _to_unit(self, lit: Literal, target: Type, at: Node) -> Literal:
        """``lit`` converted to ``target``'s unit (for its analyte)."""
        if lit.unit == target.unit:
            return lit
        try:
            value = convert(lit.value, lit.unit, target.unit, target.analyte)  # type: ignore[arg-type]
        except UnitError as err:
            raise self.error(at, f"{err.reason}: cannot compare {target.describe()} with {self.source(at)!r}") from None
        return Literal(value, target.unit, origin=lit.origin or self.source(at), span=lit.span)

    def _coerce(self, a: tuple[Node, Type], b: tuple[Node, Type], at: Node, op: str) -> tuple[Node, Node]:
        """Make ``a`` and ``b`` comparable (converting unit literals); else a RuleError."""
        (na, ta), (nb, tb) = a, b
        if ta.kind == "quantity" and tb.kind == "quantity":
            if ta.unit != tb.unit:
                if isinstance(nb, Literal):
                    nb = self._to_unit(nb, ta, nb)
                elif isinstance(na, Literal):
                    na = self._to_unit(na, tb, na)
                else:
                    raise self.error(at, f"cannot compare {ta.describe()} with {tb.describe()}")
            return na, nb
        if {ta.kind, tb.kind} == {"quantity", "number"}:
            (nq, quantity), (nn, _) = ((na, ta), (nb, tb)) if ta.kind == "quantity" else ((nb, tb), (na, ta))
            if quantity.unit == "ratio":
                return na, nb
            if quantity.analyte or not isinstance(nq, Literal):
                raise self.error(nn, f"give the unit: {quantity.describe()} is compared with a plain number")
            raise self.error(nq, f"{self.source(nq)!r} has a unit, but {self.source(nn)!r} is a plain number")
        if ta.kind == tb.kind == "number":
            return na, nb
        if ta.kind in TEMPORAL_KINDS and tb.kind in TEMPORAL_KINDS:
            # A date and time compared with a date is compared by its date part.
            if ta.kind != tb.kind:
                if ta.kind == "datetime" and not _is_date_call(na):
                    na = Call("date", (na,), span=na.span)
                elif tb.kind == "datetime" and not _is_date_call(nb):
                    nb = Call("date", (nb,), span=nb.span)
            return na, nb
        if ta.kind == tb.kind and ta.kind in ("string", "bool"):
            if op not in ("==", "!="):
                raise self.error(at, f"{op} does not apply to {ta.describe()}")
            for node, other in ((na, tb), (nb, ta)):
                if isinstance(node, Literal) and other.enum and node.value not in other.enum:
                    raise self.error(node, f"{node.value!r} is not a possible value; expected {other.describe()}")
            return na, nb
        raise self.error(at, f"cannot compare {ta.describe()} with {tb.describe()}")

    def bind_compare(self, node: Compare) -> tuple[Node, Type]:
        bound = [self.bind(o) for o in node.operands]
        # A lab result in the chain fixes the analyte of every unit literal in it.
        lab = next((t for _, t in bound if t.kind == "quantity" and t.analyte), None)
        if lab is not None:
            bound = [
                (self._to_unit(n, lab, n), lab) if isinstance(n, Literal) and t.kind == "quantity" else (n, t)
                for n, t in bound
            ]
        operands = [bound[0][0]]
        for op, left, right in zip(node.ops, bound, bound[1:]):
            operands[-1], new_right = self._coerce((operands[-1], left[1]), right, node, op)
            operands.append(new_right)
        return Compare(node.ops, tuple(operands), span=node.span), BOOL

    def bind_inlist(self, node: InList) -> tuple[Node, Type]:
        operand, type_ = self.bind(node.operand)
        items = []
        for item in node.items:
            lit, lit_type = self.bind(item)
            if lit_type.kind != type_.kind and not (type_.numeric and lit_type.numeric):
                raise self.error(item, f"{self.source(item)} is not {type_.describe()}")
            if type_.enum and lit.value not in type_.enum:
                raise self.error(item, f"{lit.value!r} is not a possible value; expected {type_.describe()}")
            if type_.kind == "quantity":
                lit = self._to_unit(lit, type_, item)
            items.append(lit)
        return InList(operand, tuple(items), node.negated, span=node.span), BOOL

    def bind_neg(self, node: Neg) -> tuple[Node, Type]:
        operand, type_ = self.bind(node.operand)
        if not type_.numeric:
            raise self.error(node, f"cannot negate {type_.describe()}")
        if isinstance(operand, Literal):
            return replace(operand, value=-operand.value, span=node.span), type_  # type: ignore[operator]
        return Neg(operand, span=node.span), type_

    def bind_arith(self, node: Arith) -> tuple[Node, Type]:
        (left, lt), (right, rt) = self.bind(node.left), self.bind(node.right)
        if not (lt.numeric and rt.numeric):
            raise self.error(node, f"{node.op} needs numbers, not {lt.describe()} and {rt.describe()}")
        op = node.op
        if lt.kind == "quantity" and rt.kind == "quantity":
            if op in "+-" or (op == "/"):
                if lt.unit != rt.unit:
                    if isinstance(right, Literal):
                        right = self._to_unit(right, lt, node.right)
                    elif isinstance(left, Literal):
                        left = self._to_unit(left, rt, node.left)
                        lt = Type("quantity", unit=rt.unit, analyte=rt.analyte)
                    else:
                        raise self.error(node, f"cannot combine {lt.describe()} and {rt.describe()}")
                result = lt if op in "+-" else NUMBER
            else:
                raise self.error(node, "cannot multiply two quantities with units")
        elif lt.kind == "quantity" or rt.kind == "quantity":
            if op in "+-":
                raise self.error(node, "cannot add a plain number to a quantity with a unit")
            if op == "/" and rt.kind == "quantity":
                raise self.error(node, "cannot divide a plain number by a quantity")
            result = lt if lt.kind == "quantity" else rt
        else:
            result = NUMBER
        if isinstance(left, Literal) and isinstance(right, Literal):
            a, b = left.value, right.value
            if op == "/" and b == 0:
                raise self.error(node, "division by zero")
            value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]  # type: ignore[operator]
            origin = self.source(node) if (left.origin or right.origin) else None
            return Literal(round_significant(value), result.unit, origin=origin, span=node.span), result
        return Arith(op, left, right, span=node.span), result


def _is_date_call(node: Node) -> bool:
    return isinstance(node, Call) and node.func == "date"


def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def bind(text: str, vocab: Vocabulary, *, where: str | None = None, want: str | None = "bool") -> tuple[Node, Type]:
    """Parse and check ``text``; return the bound tree and its type.

    ``want="bool"`` (the default) insists that the rule is a condition.
    ``where`` names the rule (criterion id) in errors.
    """
    try:
        tree = parse(text)
        binder = _Binder(text, vocab)
        node, type_ = binder.bind(tree)
        if want and type_.kind != want:
            raise binder.error(tree, f"the rule is {type_.describe()}, not a condition")
    except RuleError as err:
        raise (err.for_criterion(where) if where and not err.criterion else err) from None
    return node, type_
