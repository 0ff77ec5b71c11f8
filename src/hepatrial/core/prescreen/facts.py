"""One patient's source rows as a candidate file, so that the one-candidate screening
(:func:`hepatrial.core.screening.screen`) can explain a pre-screening candidate and check
the compiled SQL's statuses.

The rows are read as the compiled plan reads them: a result the candidate file would refuse
(a unit the test does not take, an impossible value) is left out, and so is a test reported
twice at one time with two values; age is the completed years at the lab day; a diagnosis
sets its field true from its start date; a field no table holds is unknown, unless the code
mapping assumes a value for it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from pydantic import ValidationError

from hepatrial.core.candidate import Candidate, LabResult

STATUS_TO_CHECK = "to_check"


@dataclass
class PersonRows:
    """What the source holds about one patient (times are the source's local clock)."""

    person_id: Any
    birth: tuple[int | None, int | None, int | None] = (None, None, None)  # year, month, day
    sex: str | None = None
    #: test, clock time, value, unit, and the instant (microseconds since 1970 UTC) the plan gave the clock time
    labs: list[tuple[str, datetime, float, str | None, int]] = field(default_factory=list)
    conditions: dict[str, date] = field(default_factory=dict)  # field -> first start date


def age_at(birth: tuple[int | None, int | None, int | None], day: date) -> int | None:
    """Completed years on ``day`` (None without a full birth date or outside 0-120)."""
    year, month, dom = birth
    if year is None or month is None or dom is None:
        return None
    age = (day.year * 10000 + day.month * 100 + day.day - (year * 10000 + month * 100 + dom)) // 10000
    return age if 0 <= age <= 120 else None


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def instant(microseconds: int, tz: tzinfo) -> datetime:
    """The instant ``microseconds`` after 1970 UTC, on the clock of ``tz`` (exact)."""
    return (EPOCH + timedelta(microseconds=int(microseconds))).astimezone(tz)


def usable_labs(rows: list[tuple[str, datetime, float, str | None, int]], tz: tzinfo) -> list[LabResult]:
    """The results the candidate file accepts, each once (see the module's rules). Each is
    placed at the instant the compiled plan gave its clock time, so that both executions
    measure the same durations (a clock time repeated by a daylight-saving change included)."""
    accepted: dict[tuple[str, int], list[LabResult]] = defaultdict(list)
    for test, _clock, value, unit, t in rows:
        try:
            lab = LabResult(test=test, value=float(value), unit=unit, at=instant(t, tz).isoformat())
        except ValidationError:
            continue
        accepted[(test, t)].append(lab)
    usable = []
    for same in accepted.values():
        if len({lab.canonical_value for lab in same}) == 1:
            usable.append(same[0])
    return sorted(usable, key=lambda lab: (lab.at, lab.test))


def candidate_at(person: PersonRows, at_us: int, tz: tzinfo, assumptions: dict[str, bool],
                 labs: list[LabResult] | None = None, history_hours: float | None = None) -> Candidate:  # fmt: skip
    """The candidate file of ``person`` assessed at the instant ``at_us`` (microseconds since
    1970 UTC), with the results of the ``history_hours`` before it (all earlier when None)."""
    assessed = instant(at_us, tz)
    since = assessed - timedelta(hours=history_hours) if history_hours is not None else None
    usable = labs if labs is not None else usable_labs(person.labs, tz)
    history: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for name, start in person.conditions.items():
        if start <= assessed.date():
            if name.startswith("history."):
                history[name.removeprefix("history.")] = True
            else:
                top[name] = True
    for name, value in assumptions.items():
        if name.startswith("history."):
            history.setdefault(name.removeprefix("history."), value)
        else:
            top.setdefault(name, value)
    return Candidate(
        id=re.sub(r"[^A-Za-z0-9._:/-]", "-", f"P{person.person_id}")[:64],
        assessed_at=assessed.isoformat(),
        age=age_at(person.birth, assessed.date()),
        sex=person.sex,
        labs=[lab for lab in usable if lab.at <= assessed and (since is None or lab.at >= since)],
        history=history,
        **top,
    )
