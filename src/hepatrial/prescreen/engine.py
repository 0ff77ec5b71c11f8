"""Run a compiled pre-screening plan on DuckDB (embedded, the default) or PostgreSQL, and
explain each candidate with the one-candidate screening.

The SQL finds the candidates and counts the funnel; then each candidate's rows are read
back, turned into a candidate file (:mod:`.facts`) and screened in Python at the first
qualifying time, which gives every criterion its reason. The two executions of the same
rules must agree on every status: a disagreement is reported with the candidate, never
hidden (the differential test asserts there is none).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from typing import Any

from hepatrial.core.candidate import Candidate
from hepatrial.core.prescreen.compile import CompiledPlan, compile_protocol
from hepatrial.core.prescreen.facts import (
    STATUS_TO_CHECK,
    PersonRows,
    candidate_at,
    usable_labs,
)
from hepatrial.core.prescreen.sources import OPTIONAL_TABLES, Source
from hepatrial.core.prescreen.vocabulary import Vocabulary, default_vocabulary
from hepatrial.core.protocol import Protocol
from hepatrial.core.screening import STATUS, screen



class EngineError(RuntimeError):
    """The database refused the plan or could not be reached (the message says which)."""


@dataclass(frozen=True)
class FunnelStep:
    label: str
    criterion: str | None  # None for the first rows (patients, patients with lab days)
    patients: int
    to_check: bool = False


@dataclass
class PrescreenCandidate:
    person_id: Any
    first_at: datetime  # the source's local clock
    candidate_days: int
    lab_days: int
    values: dict[str, Any]
    statuses: dict[str, str]  # criterion -> met | not_met | unknown | to_check
    reasons: dict[str, str]
    candidate: Candidate  # the candidate file at first_at (pre-fills a screening form)
    disagreements: list[str] = field(default_factory=list)


@dataclass
class PrescreenResult:
    protocol_id: str
    source: str
    engine: str
    patients: int
    funnel: list[FunnelStep]
    candidates: list[PrescreenCandidate]
    plan: CompiledPlan
    seconds: float
    timezone: str


class _Engine:
    name = "engine"

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def fetch(self, sql: str) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError

    def progress(self) -> float | None:
        return None

    def close(self) -> None:
        pass


#: DuckDB's memory for a run: beyond it, it spills to disk (a million patients run in it
#: at the same speed; DuckDB's own default, 80% of the machine, would take 2 GB).
DUCKDB_MEMORY = "1GB"


class DuckDBEngine(_Engine):
    name = "duckdb"

    def __init__(self, database: str = ":memory:", memory_limit: str = DUCKDB_MEMORY):
        import duckdb

        self.con = duckdb.connect(database)
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute("SET TimeZone = 'UTC'")  # a time with a zone in a file is read in UTC, not the server's zone
        self.con.execute("SET preserve_insertion_order = false")  # every result is ordered explicitly

    def execute(self, sql: str) -> None:
        self._run(sql)

    def fetch(self, sql: str) -> tuple[list[str], list[tuple]]:
        cursor = self._run(sql)
        return [d[0] for d in cursor.description], cursor.fetchall()

    def _run(self, sql: str):
        import duckdb

        try:
            return self.con.execute(sql)
        except duckdb.Error as err:
            raise EngineError(f"DuckDB: {str(err).splitlines()[0]}") from None

    def progress(self) -> float | None:
        try:
            value = self.con.query_progress()
        except Exception:  # noqa: BLE001 - progress is best effort
            return None
        return value if value >= 0 else None

    def close(self) -> None:
        self.con.close()


class PostgresEngine(_Engine):
    name = "postgresql"

    def __init__(self, url: str):
        import psycopg

        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as err:
            raise EngineError(f"PostgreSQL: cannot connect: {str(err).splitlines()[0]}") from None
        self.con.execute("SET TIME ZONE 'UTC'")

    def execute(self, sql: str) -> None:
        self._run(sql)

    def fetch(self, sql: str) -> tuple[list[str], list[tuple]]:
        cursor = self._run(sql)
        return [d.name for d in cursor.description], cursor.fetchall()

    def _run(self, sql: str):
        import psycopg

        try:
            return self.con.execute(sql)
        except psycopg.Error as err:
            raise EngineError(f"PostgreSQL: {str(err).splitlines()[0]}") from None

    def close(self) -> None:
        self.con.close()


def _present(engine: _Engine, source: Source) -> Source:
    """A database source without the optional tables its schema lacks."""
    if source.files:
        return source
    missing = []
    for name in OPTIONAL_TABLES:
        if name in source.tables:
            schema = f"'{source.schema}'" if source.schema else "current_schema()"
            _c, ((count,),) = engine.fetch(
                f"SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '{name}' AND table_schema = {schema}")
            if not count:
                missing.append(name)
    return source.without(*missing)


def _dialect(engine: _Engine) -> str:
    return "postgres" if engine.name == "postgresql" else "duckdb"


def _zone_name(tz: tzinfo) -> str:
    """The IANA name of ``tz`` (UTC for timezone.utc)."""
    name = getattr(tz, "key", None) or str(tz)
    return "UTC" if name in ("UTC", "Etc/UTC", "UTC+00:00") else name


def open_engine(database: str | None) -> _Engine:
    """DuckDB in memory (None), a DuckDB file, or PostgreSQL (postgresql://...)."""
    if database and database.startswith(("postgresql://", "postgres://")):
        return PostgresEngine(database)
    return DuckDBEngine(database or ":memory:")


def _with_progress(engine: _Engine, sql: str, progress: Callable[[float], None] | None) -> None:
    if progress is None:
        engine.execute(sql)
        return
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            value = engine.progress()
            if value is not None:
                progress(value)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        engine.execute(sql)
    finally:
        done.set()
        watcher.join()
    progress(100.0)


def _persons(engine: _Engine, plan: CompiledPlan, persons_sql: str) -> dict[Any, PersonRows]:
    """Every row the candidates' explanation needs, for the persons ``persons_sql`` selects."""
    people: dict[Any, PersonRows] = {}
    queries = plan.source_rows_sql(persons_sql)
    for pid, year, month, day, sex in engine.fetch(queries["person"])[1]:
        if pid in people:  # listed twice: what the rows disagree on is unknown (as the plan reads it)
            known = people[pid]
            people[pid] = PersonRows(pid, known.birth if known.birth == (year, month, day) else (None, None, None),
                                     known.sex if known.sex == sex else None)  # fmt: skip
        else:
            people[pid] = PersonRows(pid, (year, month, day), sex)
    for pid, test_id, taken_at, t, value, unit in engine.fetch(queries["lab"])[1]:
        people.setdefault(pid, PersonRows(pid)).labs.append((plan.tests[test_id - 1], taken_at, value, unit, int(t)))
    if "condition" in queries:
        for pid, name, start in engine.fetch(queries["condition"])[1]:
            if start is None:  # no start date: never sets the field (nor does the plan)
                continue
            start = start if isinstance(start, date) else date.fromisoformat(str(start))
            people.setdefault(pid, PersonRows(pid)).conditions[name] = start
    return people


def python_statuses(plan: CompiledPlan, protocol: Protocol, person: PersonRows, at_us: int, tz: tzinfo,
                    labs=None) -> tuple[Candidate, dict[str, str], dict[str, str]]:  # fmt: skip
    """Screen ``person`` at the instant ``at_us`` (a lab day's ``t``) in Python: the candidate
    file, statuses and reasons (an unknown in a criterion that needs a clinician is "to check")."""
    assumptions = {name: value for name, value, _why in plan.assumptions}
    settings = protocol.screening
    # every result a criterion can read: the latest within the lookback, and its previous
    history = settings.lookback_hours + settings.daily_rise_max_hours
    candidate = candidate_at(person, at_us, tz, assumptions, labs, history)
    result = screen(candidate, protocol)
    to_check = {c.id for c in plan.criteria if c.to_check}
    statuses, reasons = {}, {}
    for c in result.criteria:
        status = c.status
        if status == STATUS[None] and c.id in to_check:
            status = STATUS_TO_CHECK
        statuses[c.id] = status
        reasons[c.id] = c.reason
    return candidate, statuses, reasons


def sql_status(plan_criterion, value: bool | None) -> str:
    status = STATUS[value]
    if value is None and plan_criterion.to_check:
        return STATUS_TO_CHECK
    return status


def run_prescreen(protocol: Protocol, source: Source, *, database: str | None = None, vocabulary: Vocabulary | None = None,
                  tz: tzinfo = timezone.utc, progress: Callable[[float], None] | None = None) -> PrescreenResult:  # fmt: skip
    """Pre-screen ``source`` against ``protocol``: funnel, candidates, each explained."""
    vocabulary = vocabulary or default_vocabulary()
    engine = open_engine(database)
    started = time.perf_counter()
    try:
        plan = compile_protocol(protocol, _present(engine, source), _dialect(engine), vocabulary, _zone_name(tz))
        create, redo, drop, insert, candidates_sql, funnel_sql, patients_sql = plan.statements()
        _with_progress(engine, create, progress)
        for statement in (redo, drop, insert):
            engine.execute(statement)
        columns, rows = engine.fetch(candidates_sql)
        _fc, funnel_rows = engine.fetch(funnel_sql)
        _pc, ((patients,),) = engine.fetch(patients_sql)
        people = _persons(engine, plan, "SELECT person_id FROM hepatrial_prescreen WHERE first_t IS NOT NULL") if rows else {}
    finally:
        engine.close()
    candidates = []
    for row in rows:
        record = dict(zip(columns, row))
        statuses = {c.id: sql_status(c, record[c.column]) for c in plan.criteria}
        values = {v.column: record[v.column] for v in plan.values}
        person = people.get(record["person_id"], PersonRows(record["person_id"]))
        candidate, py_statuses, reasons = python_statuses(plan, protocol, person, int(record["t"]), tz)
        disagreements = [f"{cid}: SQL {statuses[cid]}, one-candidate screening {py_statuses[cid]}"
                         for cid in statuses if statuses[cid] != py_statuses[cid]]  # fmt: skip
        candidates.append(PrescreenCandidate(
            person_id=record["person_id"], first_at=record["taken_at"], candidate_days=int(record["candidate_days"]),
            lab_days=int(record["lab_days"]), values=values, statuses=statuses, reasons=reasons, candidate=candidate,
            disagreements=disagreements,
        ))  # fmt: skip
    depth_counts = {int(depth): int(n) for depth, n in funnel_rows}
    with_labs = sum(depth_counts.values())
    funnel = [FunnelStep("patients in the source", None, int(patients)), FunnelStep("with a lab day", None, with_labs)]
    for i, criterion in enumerate(plan.criteria):
        reached = sum(n for depth, n in depth_counts.items() if depth > i)
        label = f"{criterion.id} {'met' if criterion.kind == 'inclusion' else 'not met'}{' or to check' if criterion.to_check else ''}"
        funnel.append(FunnelStep(label, criterion.id, reached, criterion.to_check))
    return PrescreenResult(
        protocol_id=protocol.id, source=source.label, engine=engine.name, patients=int(patients), funnel=funnel,
        candidates=candidates, plan=plan, seconds=time.perf_counter() - started, timezone=str(tz),
    )  # fmt: skip


def all_days(protocol: Protocol, source: Source, *, database: str | None = None, vocabulary: Vocabulary | None = None,
             exact: bool | None = None, tz: tzinfo = timezone.utc) -> tuple[CompiledPlan, list[dict[str, Any]]]:  # fmt: skip
    """Every patient and lab day with each criterion's SQL status (for checks and exports).
    By default the lag plan, and the exact plan for the patients it cannot settle;
    ``exact=True``/``False`` forces one plan (rows needing more are then left as they are)."""
    vocabulary = vocabulary or default_vocabulary()
    engine = open_engine(database)
    try:
        plan = compile_protocol(protocol, _present(engine, source), _dialect(engine), vocabulary, _zone_name(tz))
        columns, rows = engine.fetch(plan.days_query(exact=bool(exact)))
        days = [dict(zip(columns, row)) for row in rows]
        redo = {d["person_id"] for d in days if d["needs_more"]}
        if redo and exact is None:
            columns, rows = engine.fetch(plan.days_query(exact=True))
            again = [dict(zip(columns, row)) for row in rows if row[columns.index("person_id")] in redo]
            days = sorted([d for d in days if d["person_id"] not in redo] + again, key=lambda d: (d["person_id"], d["t"]))
    finally:
        engine.close()
    return plan, days


def write_days(protocol: Protocol, source: Source, path: str, fmt: str = "parquet", *,
               vocabulary: Vocabulary | None = None, tz: tzinfo = timezone.utc) -> int:  # fmt: skip
    """Every patient and lab day with the values used and each criterion's status, written
    by DuckDB straight to ``path`` (Parquet or CSV); the number of rows."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format: parquet or csv, got {fmt!r}")
    engine = DuckDBEngine()
    try:
        plan = compile_protocol(protocol, source, "duckdb", vocabulary or default_vocabulary(), _zone_name(tz))
        quoted = "'" + str(path).replace("'", "''") + "'"
        engine.execute(f"COPY ({plan.days_export_sql()}) TO {quoted} (FORMAT {fmt.upper()}{', HEADER' if fmt == 'csv' else ''})")
        return engine.fetch(f"SELECT COUNT(*) FROM read_{fmt}({quoted})")[1][0][0]
    finally:
        engine.close()


def person_rows(protocol: Protocol, source: Source, persons_sql: str, *, database: str | None = None,
                vocabulary: Vocabulary | None = None, tz: tzinfo = timezone.utc) -> dict[Any, PersonRows]:  # fmt: skip
    """The source rows of the persons ``persons_sql`` selects (a query of person ids)."""
    vocabulary = vocabulary or default_vocabulary()
    engine = open_engine(database)
    try:
        plan = compile_protocol(protocol, _present(engine, source), _dialect(engine), vocabulary, _zone_name(tz))
        return _persons(engine, plan, persons_sql)
    finally:
        engine.close()


__all__ = ["run_prescreen", "all_days", "person_rows", "python_statuses", "usable_labs", "PrescreenResult",
           "PrescreenCandidate", "FunnelStep", "EngineError"]  # fmt: skip
