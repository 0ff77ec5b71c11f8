"""The audit trail as a hash chain (tamper evidence for 21 CFR 11.10(e)).

Each audit row carries the hash of the row before it (``prev_hash``) and its own
``hash``: SHA-256 over that previous hash and the row's content in one canonical
form. Changing a stored row breaks its own hash; removing, inserting or reordering
rows breaks the next row's link. The first row links to ``GENESIS``.

Pure functions: the storage layer (``hepatrial.services.audit``) decides the order
(the rows' primary keys) and serialises writers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

#: The content a row's hash covers, in this order (every column but the key and the hashes).
FIELDS = ("at", "user_id", "username", "route", "action", "model", "object_id", "field",
          "old", "new", "reason", "site_id", "subject_id")  # fmt: skip


def _number(value: float | int) -> str:
    """A number in one spelling whatever the database gave back (PostgreSQL's jsonb returns
    1e300 as an integer, -0.0 as 0): the shortest text of the double it is. (Whole numbers
    beyond 2**53 lose their last digits here; no audited value is one.)"""
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueError(f"an audit value is too large a number: {value!r}") from None
    if not math.isfinite(as_float):
        raise ValueError(f"an audit value is not a finite number: {value!r}")
    return repr(as_float + 0.0)  # + 0.0: -0.0 and 0.0 are one number


def _canonical_value(value: Any) -> Any:
    """``value`` with its type spelled out, so that no two values share a form: a text,
    a number, true/false, null, a list and an object are each [tag, ...]."""
    if value is None:
        return ["z"]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, (int, float)):
        return ["n", _number(value)]
    if isinstance(value, Mapping):
        return ["o", {str(k): _canonical_value(v) for k, v in value.items()}]
    if isinstance(value, (list, tuple)):
        return ["a", [_canonical_value(v) for v in value]]
    raise TypeError(f"an audit value cannot be hashed: {type(value).__name__}")


def _instant(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("an audit time must carry its time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    """``value`` (JSON data) as canonical bytes: keys sorted, numbers in one spelling."""
    return json.dumps(_canonical_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical(content: Mapping[str, Any]) -> bytes:
    """``content`` (the FIELDS of one row) as the bytes its hash is taken over."""
    missing = [f for f in FIELDS if f not in content]
    if missing:
        raise ValueError(f"audit content lacks {', '.join(missing)}")
    return canonical_json({**{f: content[f] for f in FIELDS if f != "at"}, "at": _instant(content["at"])})


def link(prev_hash: str, content: Mapping[str, Any]) -> str:
    """The hash of a row whose content is ``content``, following the row hashed ``prev_hash``."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(content)).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first row at which the chain does not hold, and why."""

    position: int  # 1-based, in chain order
    key: Any  # the row's primary key
    problem: str


@dataclass(frozen=True)
class Verdict:
    rows: int
    head: str  # the last row's hash (GENESIS for an empty trail)
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(rows: Iterable[tuple[Any, str, str, Mapping[str, Any]]]) -> Verdict:
    """Walk ``rows`` — (key, prev_hash, hash, content) in chain order — and stop at the
    first row that does not hold."""
    prev = GENESIS
    count = 0
    for count, (key, prev_hash, row_hash, content) in enumerate(rows, start=1):  # noqa: B007
        if prev_hash != prev:
            problem = ("it does not link to the row before it: a row before it was removed, "
                       "inserted or reordered" if count > 1 else "the first row does not start the chain")  # fmt: skip
            return Verdict(count, prev, Break(count, key, problem))
        try:
            expected = link(prev, content)
        except (TypeError, ValueError) as err:
            return Verdict(count, prev, Break(count, key, f"its content cannot be read: {err}"))
        if row_hash != expected:
            return Verdict(count, prev, Break(count, key, "its content does not match its hash: it was changed after it was written"))
        prev = row_hash
    return Verdict(count, prev, None)
