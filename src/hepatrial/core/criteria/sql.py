"""A bound rule (:mod:`.ast`) as a SQL expression, for pre-screening a population
(hepatrial.core.prescreen.compile builds the query around it).

SQL's ``NULL`` is the evaluator's unknown and SQL's ``AND``/``OR``/``NOT`` are the same
three-valued (Kleene) logic, so most nodes translate one to one. The exceptions follow the
evaluator (:mod:`.evaluate`): a comparison chain is unknown as soon as one operand is (SQL
would call ``NULL < 1 AND 2 < 1`` false); ``x is true`` is two-valued; a division by zero
is unknown. Fields, lab functions and scores become the columns (or expressions) the
caller names.
"""

from __future__ import annotations

import re

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


class CompileError(ValueError):
    """A rule the SQL compiler cannot translate (names the criterion and the construct)."""


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def column(prefix: str, name: str) -> str:
    """The column holding ``prefix`` of ``name`` (``latest__total_bilirubin``, ``c__i1``): lower
    case, as PostgreSQL folds an unquoted name."""
    return f"{prefix}__{re.sub(r'[^a-z0-9_]', '_', name.replace('.', '__').lower())}"


def number(value: float) -> str:
    """A float literal SQL reads back as the same double."""
    return f"CAST({float(value)!r} AS DOUBLE)"


class RuleSQL:
    """Bound rule nodes -> SQL expressions (DuckDB's dialect; sqlglot translates it)."""

    def __init__(self, fields: dict[str, str], scores: dict[str, str], where: str):
        self.fields = fields  # candidate field -> SQL expression
        self.scores = scores  # score -> SQL expression (a column, or the computation)
        self.where = where

    def __call__(self, node: Node) -> str:
        method = getattr(self, f"sql_{type(node).__name__.lower()}", None)
        if method is None:
            raise CompileError(f"{self.where}: {type(node).__name__} cannot be compiled to SQL")
        return method(node)

    def sql_literal(self, node: Literal) -> str:
        if node.value is None:
            return "NULL"
        if isinstance(node.value, bool):
            return "TRUE" if node.value else "FALSE"
        if isinstance(node.value, str):
            return quote(node.value)
        return number(node.value)

    def sql_field(self, node: Field) -> str:
        return self.fields[node.path]

    def sql_call(self, node: Call) -> str:
        if node.func in SCORE_FUNCTIONS:
            return self.scores[node.func]
        if node.func in ("latest", "daily_rise") and isinstance(node.args[0], LabRef):
            return column("latest" if node.func == "latest" else "rise", node.args[0].test)
        raise CompileError(f"{self.where}: {node.func}() cannot be compiled to SQL")

    def sql_defref(self, node: DefRef) -> str:
        return self(node.body)  # type: ignore[arg-type]

    def sql_neg(self, node: Neg) -> str:
        return f"(-{self(node.operand)})"

    def sql_arith(self, node: Arith) -> str:
        left, right = self(node.left), self(node.right)
        if node.op == "/":
            return f"({left} / NULLIF({right}, 0))"
        return f"({left} {node.op} {right})"

    def sql_compare(self, node: Compare) -> str:
        operands = [self(o) for o in node.operands]
        ops = {"==": "=", "!=": "<>"}
        pairs = " AND ".join(f"{a} {ops.get(op, op)} {b}" for a, op, b in zip(operands, node.ops, operands[1:]))
        # the evaluator: a chain with an unknown operand is unknown, even if another pair is false
        unknown = " OR ".join(f"{sql} IS NULL" for sql, o in zip(operands, node.operands) if not isinstance(o, Literal))
        return f"(CASE WHEN {unknown} THEN NULL ELSE ({pairs}) END)" if unknown else f"({pairs})"

    def sql_inlist(self, node: InList) -> str:
        items = ", ".join(self(i) for i in node.items)
        return f"({self(node.operand)} {'NOT IN' if node.negated else 'IN'} ({items}))"

    def sql_istest(self, node: IsTest) -> str:
        x = self(node.operand)
        if node.value is None:
            test = f"({x} IS NULL)"
        else:
            test = f"COALESCE({x} = {'TRUE' if node.value else 'FALSE'}, FALSE)"
        return f"(NOT {test})" if node.negated else test

    def sql_not(self, node: Not) -> str:
        return f"(NOT {self(node.operand)})"

    def sql_boolop(self, node: BoolOp) -> str:
        return "(" + f" {node.op.upper()} ".join(self(o) for o in node.operands) + ")"
