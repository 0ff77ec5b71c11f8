"""The names a rule may use: the candidate file's fields, typed from its schema."""

from __future__ import annotations

from functools import cache
from typing import Any

from hepatrial.core.candidate import Candidate
from hepatrial.core.criteria.check import BOOL, NUMBER, STRING, Type, Vocabulary

#: Fields of the candidate file that are not for rules (identity, time, the lab list).
_NOT_RULE_FIELDS = {"id", "assessed_at", "labs", "history"}


def _type_of(schema: dict[str, Any]) -> Type:
    options = schema.get("anyOf", [schema])
    option = next(o for o in options if o.get("type") != "null")
    if "enum" in option:
        return Type("string", enum=tuple(option["enum"]))
    return {"boolean": BOOL, "number": NUMBER, "integer": NUMBER, "string": STRING}[option["type"]]


@cache
def candidate_fields() -> dict[str, Type]:
    """Every rule-usable field of the candidate file, dotted (``history.dic``), with its type."""
    schema = Candidate.model_json_schema()
    fields = {
        name: _type_of(prop) for name, prop in schema["properties"].items() if name not in _NOT_RULE_FIELDS
    }
    history = schema["$defs"]["History"]["properties"]
    fields.update({f"history.{name}": _type_of(prop) for name, prop in history.items()})
    return fields


def candidate_vocabulary(
    params: dict[str, tuple[Any, str | None]] | None = None, definitions: dict[str, str] | None = None
) -> Vocabulary:
    """A vocabulary over the candidate file with the protocol's parameters and definitions."""
    return Vocabulary(fields=dict(candidate_fields()), params=params or {}, definitions=definitions or {})
