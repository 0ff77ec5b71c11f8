"""The audit hash chain's pure part: one canonical form per row, links that break where
a row is changed, removed, inserted or reordered."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hepatrial.core.audit_chain import FIELDS, GENESIS, canonical, link, verify


def row(n: int, **changes):
    content = {"at": datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC) + timedelta(seconds=n), "user_id": 3, "username": "coordinator_a",
               "route": "web", "action": "update_form", "model": "FormEntry", "object_id": str(n),
               "field": "day_0/lab_panel.inr", "old": 1.5, "new": {"value": 1.9, "unit": None}, "reason": "",
               "site_id": 1, "subject_id": "SYSU3-001"}  # fmt: skip
    return {**content, **changes}


def chained(contents):
    rows, prev = [], GENESIS
    for key, content in enumerate(contents, start=1):
        h = link(prev, content)
        rows.append((key, prev, h, content))
        prev = h
    return rows


def test_a_link_is_sha256_over_the_previous_hash_and_the_canonical_row():
    content = row(1)
    expected = hashlib.sha256(GENESIS.encode() + b"\n" + canonical(content)).hexdigest()
    assert link(GENESIS, content) == expected and len(expected) == 64
    assert link("f" * 64, content) != expected  # the previous hash is part of it


def test_the_canonical_form_does_not_depend_on_key_order_time_zone_or_number_spelling():
    a = row(1)
    b = dict(reversed(list(a.items())))
    b["at"] = a["at"].astimezone(timezone(timedelta(hours=8)))  # the same instant in Shanghai
    assert canonical(a) == canonical(b)
    # PostgreSQL's jsonb gives 1e300 back as an integer and -0.0 as 0: the same numbers
    assert canonical(row(1, old=1e300)) == canonical(row(1, old=10**300))
    assert canonical(row(1, old=-0.0)) == canonical(row(1, old=0))
    # but a number and its text are different values, and so are true and 1
    assert canonical(row(1, old=1)) != canonical(row(1, old="1"))
    assert canonical(row(1, old=True)) != canonical(row(1, old=1))
    # no value can pass for another of another type
    assert canonical(row(1, old={"#": "1.0"})) != canonical(row(1, old=1.0))
    assert canonical(row(1, old=["n", "1.0"])) != canonical(row(1, old=1.0))
    assert canonical(row(1, old=None)) != canonical(row(1, old="")) != canonical(row(1, old=[]))


def test_every_field_counts():
    base = link(GENESIS, row(1))
    for name in FIELDS:
        changed = row(1, **{name: datetime(2020, 1, 1, tzinfo=UTC) if name == "at" else "x"})
        assert link(GENESIS, changed) != base, name


def test_bad_content_is_named():
    with pytest.raises(ValueError, match="time zone"):
        canonical(row(1, at=datetime(2026, 1, 1)))
    with pytest.raises(ValueError, match="lacks reason"):
        canonical({k: v for k, v in row(1).items() if k != "reason"})
    with pytest.raises(ValueError, match="finite"):
        canonical(row(1, new=float("nan")))
    with pytest.raises(ValueError, match="too large"):
        canonical(row(1, new=10**400))


def test_an_intact_chain_verifies_and_gives_its_last_hash():
    rows = chained([row(n) for n in range(1, 6)])
    verdict = verify(rows)
    assert verdict.ok and verdict.rows == 5 and verdict.head == rows[-1][2]
    assert verify([]).ok and verify([]).head == GENESIS


def test_a_changed_row_is_the_first_broken_one():
    rows = chained([row(n) for n in range(1, 6)])
    key, prev, h, content = rows[2]
    rows[2] = (key, prev, h, {**content, "new": {"value": 2.9, "unit": None}})
    verdict = verify(rows)
    assert (verdict.broken.position, verdict.broken.key) == (3, 3)
    assert "changed after it was written" in verdict.broken.problem
    assert verdict.head == rows[1][2]  # the last row that holds


def test_a_removed_inserted_or_reordered_row_breaks_the_next_link():
    rows = chained([row(n) for n in range(1, 6)])
    removed = rows[:2] + rows[3:]
    assert verify(removed).broken.key == 4 and "removed" in verify(removed).broken.problem
    forged = (99, rows[1][2], link(rows[1][2], row(99)), row(99))  # a well-formed row slipped in after row 2
    assert verify(rows[:2] + [forged] + rows[2:]).broken.key == 3
    assert verify([rows[1], rows[0]] + rows[2:]).broken.key == 2  # the first row does not start the chain
    assert "start the chain" in verify([rows[1], rows[0]] + rows[2:]).broken.problem
