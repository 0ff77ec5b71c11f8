"""Parse rule text into a syntax tree. Never ``eval``: a small tokenizer and a
recursive-descent parser accept exactly this grammar::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum ((CMP sum)+ | ["not"] "in" "(" literal ("," literal)* ")"
                       | "is" ["not"] ("true" | "false" | "null"))?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER [UNIT] | STRING | "true" | "false" | "null"
                | NAME ("." NAME)* ["(" [expr ("," expr)*] ")"] | "(" expr ")"
    CMP        := "<" | "<=" | ">" | ">=" | "==" | "!="

A UNIT directly after a number is one of the spellings in
:data:`hepatrial.core.units.UNIT_SPELLINGS` (``171 umol/L``, ``40 %``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hepatrial.core.criteria.ast import (
    Arith,
    BoolOp,
    Call,
    Compare,
    InList,
    IsTest,
    Literal,
    Name,
    Neg,
    Node,
    Not,
)
from hepatrial.core.units import UNIT_SPELLINGS, normalize_unit


class RuleError(ValueError):
    """A rule that cannot be parsed or checked, with the position in its text.

    ``criterion`` is filled in by whoever knows which criterion the rule belongs to.
    """

    def __init__(self, message: str, text: str, position: int, criterion: str | None = None):
        self.message = message
        self.text = text
        self.position = position
        self.criterion = criterion
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.criterion}: " if self.criterion else ""
        return f"{where}column {self.position + 1}: {self.message}\n  {self.text}\n  {' ' * self.position}^"

    def for_criterion(self, criterion: str) -> RuleError:
        return RuleError(self.message, self.text, self.position, criterion)


KEYWORDS = {"and", "or", "not", "in", "is", "true", "false", "null"}
#: Deepest nesting of brackets, calls, 'not' and unary minus a rule may have:
#: far beyond any real criterion, far below Python's recursion limit.
MAX_DEPTH = 64
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")


@dataclass(frozen=True)
class Token:
    kind: str  # NUMBER STRING NAME OP KEYWORD END
    text: str
    start: int
    end: int
    value: object = None
    unit: str | None = None


_NUMBER = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", ",", ".")
# Unit spellings that may follow a number: only those with a letter or '%'
# (a bare "1" is an alias of 'ratio' in data files, not in rules).
_RULE_UNITS = tuple(u for u in UNIT_SPELLINGS if re.search(r"[A-Za-z%µμ]", u))


def _match_unit(text: str, pos: int) -> tuple[str, int] | None:
    """A unit spelled at ``pos`` (after optional spaces): (canonical, end)."""
    start = pos
    while start < len(text) and text[start] == " ":
        start += 1
    lowered = text[start:].lower()
    for spelling in _RULE_UNITS:
        if lowered.startswith(spelling.lower()):
            end = start + len(spelling)
            if end < len(text) and (text[end].isalnum() or text[end] == "_"):
                continue  # part of a longer word, e.g. "40 ratios"
            return normalize_unit(spelling), end
    return None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch.isspace():
            pos += 1
            continue
        if m := _NUMBER.match(text, pos):
            end = m.end()
            if end < len(text) and (text[end].isalpha() or text[end] == "_") and not _match_unit(text, end):
                raise RuleError("a number runs into a name; leave a space or write a known unit", text, end)
            unit = None
            if found := _match_unit(text, end):
                unit, end = found
            tokens.append(Token("NUMBER", text[pos:end], pos, end, float(m.group(0)), unit))
            pos = end
            continue
        if ch in "\"'":
            close = text.find(ch, pos + 1)
            if close < 0:
                raise RuleError("string is not closed", text, pos)
            tokens.append(Token("STRING", text[pos : close + 1], pos, close + 1, text[pos + 1 : close]))
            pos = close + 1
            continue
        if m := _NAME.match(text, pos):
            word = m.group(0)
            kind = "KEYWORD" if word in KEYWORDS else "NAME"
            tokens.append(Token(kind, word, pos, m.end(), word))
            pos = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, pos):
                tokens.append(Token("OP", op, pos, pos + len(op), op))
                pos += len(op)
                break
        else:
            hint = " (use 'and', 'or', 'not')" if ch in "&|!" else ""
            hint = " (use '==')" if ch == "=" else hint
            raise RuleError(f"unexpected character {ch!r}{hint}", text, pos)
    tokens.append(Token("END", "", len(text), len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers -------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> RuleError:
        return RuleError(message, self.text, (token or self.tok).start)

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def take(self, kind: str, text: str | None = None) -> Token | None:
        if self.at(kind, text):
            token = self.tok
            self.i += 1
            return token
        return None

    def expect(self, kind: str, text: str, what: str) -> Token:
        token = self.take(kind, text)
        if token is None:
            found = "the end of the rule" if self.at("END") else repr(self.tok.text)
            raise self.error(f"expected {what}, found {found}")
        return token

    def span(self, start: int) -> tuple[int, int]:
        return (start, self.tokens[self.i - 1].end)

    # -- grammar ---------------------------------------------------------------
    def parse(self) -> Node:
        if self.at("END"):
            raise self.error("the rule is empty")
        node = self.or_expr()
        if not self.at("END"):
            raise self.error(f"unexpected {self.tok.text!r} (a missing 'and' / 'or'?)")
        return node

    def _bool_chain(self, op: str, operand) -> Node:
        start = self.tok.start
        items = [operand()]
        while self.take("KEYWORD", op):
            items.append(operand())
        return items[0] if len(items) == 1 else BoolOp(op, tuple(items), span=self.span(start))

    def nested(self, parse_inner):
        """Parse one level deeper, refusing rules nested beyond MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested too deeply (more than {MAX_DEPTH} levels)")
        try:
            return parse_inner()
        finally:
            self.depth -= 1

    def or_expr(self) -> Node:
        return self.nested(lambda: self._bool_chain("or", self.and_expr))

    def and_expr(self) -> Node:
        return self._bool_chain("and", self.not_expr)

    def not_expr(self) -> Node:
        start = self.tok.start
        if self.take("KEYWORD", "not"):
            return Not(self.nested(self.not_expr), span=self.span(start))
        return self.comparison()

    def comparison(self) -> Node:
        start = self.tok.start
        left = self.sum()
        if self.at("OP") and self.tok.text in COMPARISONS:
            ops, operands = [], [left]
            while self.at("OP") and self.tok.text in COMPARISONS:
                ops.append(self.take("OP").text)  # type: ignore[union-attr]
                operands.append(self.sum())
            return Compare(tuple(ops), tuple(operands), span=self.span(start))
        negated = False
        if self.at("KEYWORD", "not") and self.tokens[self.i + 1].text == "in":
            self.i += 1
            negated = True
        if self.take("KEYWORD", "in"):
            self.expect("OP", "(", "'(' to start the list after 'in'")
            items = [self.literal()]
            while self.take("OP", ","):
                items.append(self.literal())
            self.expect("OP", ")", "')' to close the list")
            return InList(left, tuple(items), negated, span=self.span(start))
        if self.take("KEYWORD", "is"):
            negated = bool(self.take("KEYWORD", "not"))
            token = self.tok
            if not (token.kind == "KEYWORD" and token.text in ("true", "false", "null")):
                raise self.error("expected true, false or null after 'is'")
            self.i += 1
            value = {"true": True, "false": False, "null": None}[token.text]
            return IsTest(left, value, negated, span=self.span(start))
        return left

    def literal(self) -> Literal:
        token = self.tok
        if token.kind in ("NUMBER", "STRING") or (token.kind == "KEYWORD" and token.text in ("true", "false")):
            node = self.primary()
            assert isinstance(node, Literal)
            return node
        raise self.error("expected a number, a string, true or false in the list")

    def sum(self) -> Node:
        start = self.tok.start
        node = self.product()
        while self.at("OP") and self.tok.text in "+-":
            op = self.take("OP").text  # type: ignore[union-attr]
            node = Arith(op, node, self.product(), span=self.span(start))
        return node

    def product(self) -> Node:
        start = self.tok.start
        node = self.unary()
        while self.at("OP") and self.tok.text in ("*", "/"):
            op = self.take("OP").text  # type: ignore[union-attr]
            node = Arith(op, node, self.unary(), span=self.span(start))
        return node

    def unary(self) -> Node:
        start = self.tok.start
        if self.take("OP", "-"):
            return Neg(self.nested(self.unary), span=self.span(start))
        return self.primary()

    def primary(self) -> Node:
        token = self.tok
        start = token.start
        if token.kind == "NUMBER":
            self.i += 1
            return Literal(token.value, token.unit, span=(token.start, token.end))  # type: ignore[arg-type]
        if token.kind == "STRING":
            self.i += 1
            return Literal(token.value, span=(token.start, token.end))  # type: ignore[arg-type]
        if token.kind == "KEYWORD" and token.text in ("true", "false", "null"):
            self.i += 1
            return Literal({"true": True, "false": False, "null": None}[token.text], span=(token.start, token.end))
        if token.kind == "NAME":
            self.i += 1
            path = [token.text]
            while self.take("OP", "."):
                part = self.take("NAME")
                if part is None:
                    raise self.error("expected a name after '.'")
                path.append(part.text)
            if self.take("OP", "("):
                if len(path) > 1:
                    raise self.error("a function name has no dots", token)
                args: list[Node] = []
                if not self.at("OP", ")"):
                    args.append(self.or_expr())
                    while self.take("OP", ","):
                        args.append(self.or_expr())
                self.expect("OP", ")", "')' to close the call")
                return Call(path[0], tuple(args), span=self.span(start))
            return Name(tuple(path), span=self.span(start))
        if self.take("OP", "("):
            node = self.or_expr()
            self.expect("OP", ")", "')'")
            return node
        if token.kind == "END":
            raise self.error("the rule ends too early")
        raise self.error(f"unexpected {token.text!r}")


def parse(text: str) -> Node:
    """Parse ``text`` into an unbound syntax tree; :class:`RuleError` on bad syntax."""
    if not isinstance(text, str):
        raise RuleError("a rule must be text", str(text), 0)
    return _Parser(text).parse()
