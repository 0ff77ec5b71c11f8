"""Backups and restores of the trial database, each with a digest of what it holds.

A backup is one consistent moment of the database:
- SQLite: the online backup API (``sqlite3.Connection.backup``) copies the live file
  while the app runs. The copy is a standalone SQLite file.
- PostgreSQL: ``pg_dump --format=custom`` runs in a snapshot exported by this process,
  and the digest is read in that same snapshot.

The *content digest* is SHA-256 over every table, by name, and every row, in a
canonical order. It is a digest of the rows, not of the file's bytes, so a restored
database has the backup's digest.

Beside the backup, ``OUT.digest.json`` records the digest, the database kind, the counts
and the time. ``restore`` compares the restored database with it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from hepatrial import __version__
from hepatrial.services.errors import Invalid

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
#: Tables a hepatrial database has (a file without them is not a hepatrial backup).
REQUIRED_TABLES = ("django_migrations", "trial_auditevent")


@dataclass(frozen=True)
class Content:
    """What a database holds, in brief: its kind, digest, tables, rows and audit rows."""

    kind: str  # sqlite | postgresql
    digest: str
    tables: int
    rows: int
    audit_rows: int

    def describe(self) -> str:
        return (f"{self.tables} tables, {self.rows:,} rows, of which {self.audit_rows:,} audit rows; "
                f"content digest sha256:{self.digest}")  # fmt: skip


def database_kind() -> str:
    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else "sqlite" if "sqlite3" in engine else engine


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".digest.json")


# --- the digest -----------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A column value in one JSON spelling (per database kind: SQLite and PostgreSQL give
    the same data back as different types, so digests compare within one kind)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _digest(kind: str, cursor: Any, tables: Iterable[str], quote: Callable[[str], str]) -> Content:
    h = hashlib.sha256()
    count = rows = audit = 0
    for table in sorted(tables):
        cursor.execute(f"SELECT * FROM {quote(table)} LIMIT 0")
        width = len(cursor.description)
        cursor.execute(f"SELECT * FROM {quote(table)} ORDER BY {', '.join(str(i + 1) for i in range(width))}")
        h.update(b"\x00table " + table.encode("utf-8") + b"\n")
        count += 1
        while batch := cursor.fetchmany(2000):
            for row in batch:
                h.update(json.dumps([_plain(v) for v in row], ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
                h.update(b"\n")
            rows += len(batch)
            if table == "trial_auditevent":
                audit += len(batch)
    return Content(kind, h.hexdigest(), count, rows, audit)


def _sqlite_tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")]


def _read_only(path: Path) -> str:
    """An SQLite URI that opens ``path`` read-only (its characters escaped: a '#' or '?' in
    a file name would otherwise end the path)."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_content(path: Path) -> Content:
    """The content of the SQLite file ``path`` (opened read-only)."""
    con = sqlite3.connect(_read_only(path), uri=True)
    try:
        return _digest("sqlite", con.cursor(), _sqlite_tables(con), _quote)
    finally:
        con.close()


def _pg_tables(cursor: Any) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return [r[0] for r in cursor.fetchall()]


def postgres_content(cursor: Any) -> Content:
    cursor.execute("SET TIME ZONE 'UTC'")  # times spelled the same whoever reads them
    return _digest("postgresql", cursor, _pg_tables(cursor), _quote)


def current_content() -> Content:
    """The content of the app's database now."""
    if database_kind() == "sqlite":
        return sqlite_content(Path(settings.DATABASES["default"]["NAME"]))
    import psycopg

    with psycopg.connect(**_pg_params()) as con, con.cursor() as cursor:
        return postgres_content(cursor)


# --- PostgreSQL's tools -----------------------------------------------------------------------------
def _pg_params() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": str(db["PORT"]) if db.get("PORT") else None}  # fmt: skip
    return {k: v for k, v in params.items() if v is not None}


def _pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on the PATH, or Debian's newest under /usr/lib/postgresql."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise Invalid(f"{name} is not installed (Debian: apt-get install postgresql-client)", field="(database)")
    return found


def _pg_command(tool: str) -> tuple[list[str], dict[str, str]]:
    p = _pg_params()
    args = [_pg_tool(tool), "--dbname", p["dbname"]]
    for flag, key in (("--host", "host"), ("--port", "port"), ("--username", "user")):
        if key in p:
            args += [flag, p[key]]
    env = {**os.environ, **({"PGPASSWORD": p["password"]} if "password" in p else {})}
    return args, env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise Invalid(f"{what} failed: {done.stderr.strip() or done.returncode}", field="(database)")


# --- backup and restore -------------------------------------------------------------------------------
def backup(out: Path, progress: Callable[[int, int], None] | None = None) -> Content:
    """Write a consistent copy of the app's database to ``out`` (which must not exist) and
    its digest beside it; ``progress(done, total)`` in pages (SQLite)."""
    if out.exists() or sidecar(out).exists():
        raise Invalid(f"{out} already exists: a backup never overwrites a file", field="OUT")
    if not out.parent.is_dir():
        raise Invalid(f"no such folder: {out.parent}", field="OUT")
    kind = database_kind()
    if kind not in ("sqlite", "postgresql"):
        raise Invalid(f"backups of {kind} databases are not supported", field="(database)")
    try:
        content = (_backup_sqlite(Path(settings.DATABASES["default"]["NAME"]), out, progress) if kind == "sqlite"
                   else _backup_postgres(out))  # fmt: skip
    except BaseException:
        out.unlink(missing_ok=True)  # no half-written backup left to be taken for one
        raise
    sidecar(out).write_text(json.dumps({**asdict(content), "taken_at": timezone.now().isoformat(),
                                        "hepatrial": __version__, "file": out.name}, indent=2) + "\n")  # fmt: skip
    return content


def _backup_sqlite(db: Path, out: Path, progress: Callable[[int, int], None] | None) -> Content:
    source = sqlite3.connect(_read_only(db), uri=True, timeout=20)
    target = sqlite3.connect(out)
    try:
        # one step, in one read snapshot (WAL: writers go on): copying in steps would restart
        # at every write of a busy server, and might never end
        source.backup(target, pages=-1, progress=(lambda _s, left, total: progress(total - left, total)) if progress else None)
        target.execute("PRAGMA journal_mode=DELETE")  # a standalone file, no -wal beside it
    finally:
        target.close()
        source.close()
    _check_sqlite(out, "OUT")
    return sqlite_content(out)


def _backup_postgres(out: Path) -> Content:
    import psycopg

    with psycopg.connect(**_pg_params(), autocommit=False) as con:
        con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        con.read_only = True
        with con.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            args, env = _pg_command("pg_dump")
            _run(args + ["--format=custom", f"--snapshot={snapshot}", "--file", str(out)], env, "pg_dump")
            return postgres_content(cursor)  # the same snapshot as the dump


def _check_sqlite(path: Path, field: str) -> None:
    with path.open("rb") as f:
        if f.read(16) != SQLITE_MAGIC:
            raise Invalid(f"{path} is not a SQLite database", field=field)
    con = sqlite3.connect(_read_only(path), uri=True)
    try:
        problems = [r[0] for r in con.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise Invalid(f"{path} is damaged: {'; '.join(problems[:3])}", field=field)
        missing = set(REQUIRED_TABLES) - set(_sqlite_tables(con))
        if missing:
            raise Invalid(f"{path} is not a hepatrial database (no {', '.join(sorted(missing))})", field=field)
    except sqlite3.DatabaseError as err:
        raise Invalid(f"{path} cannot be read as SQLite: {err}", field=field) from None
    finally:
        con.close()


def backup_kind(path: Path) -> str:
    """The kind of database ``path`` is a backup of (its first bytes say)."""
    with path.open("rb") as f:
        head = f.read(16)
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    raise Invalid(f"{path} is neither a SQLite database nor a pg_dump archive", field="IN")


def expected_content(path: Path) -> Content | None:
    """The digest recorded beside the backup ``path`` (None without one)."""
    try:
        recorded = json.loads(sidecar(path).read_text())
        return Content(*(recorded[k] for k in ("kind", "digest", "tables", "rows", "audit_rows")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as err:
        raise Invalid(f"{sidecar(path)} cannot be read: {err}", field="IN") from None


def restore(inp: Path) -> Content:
    """Replace the app's database with the backup ``inp``; the restored content."""
    kind, live = backup_kind(inp), database_kind()
    if kind != live:
        raise Invalid(f"{inp} is a {kind} backup and this database is {live}", field="IN")
    connections.close_all()  # nothing of the old database stays open in this process
    if kind == "sqlite":
        _check_sqlite(inp, "IN")
        expected = expected_content(inp)
        if expected is not None and sqlite_content(inp).digest != expected.digest:
            raise Invalid(f"{inp} does not hold what was backed up: its content digest differs from the one in "
                          f"{sidecar(inp).name}; nothing was restored", field="IN")  # fmt: skip
        db = Path(settings.DATABASES["default"]["NAME"])
        source = sqlite3.connect(_read_only(inp), uri=True)
        target = sqlite3.connect(db, timeout=20)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")  # the app's mode
        finally:
            target.close()
            source.close()
    else:
        args, env = _pg_command("pg_restore")
        _run(args + ["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                     "--exit-on-error", str(inp)], env, "pg_restore")  # fmt: skip
    return current_content()
