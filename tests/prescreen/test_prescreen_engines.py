"""The same compiled plan on every engine: PostgreSQL for real (CI starts one), and the SQL
printed for Spark, Trino and BigQuery read back by sqlglot and run on DuckDB with the same
answer as DuckDB's own plan."""

from __future__ import annotations

import uuid

import duckdb
import psycopg
import pytest
import sqlglot
from infra.services import postgres_url
from prescreen_cases import disagreements

from hepatrial.core.criteria.sql import CompileError
from hepatrial.core.prescreen.compile import DIALECTS, compile_protocol, translate
from hepatrial.core.prescreen.sources import OMOP_TABLES, Source
from hepatrial.prescreen.engine import run_prescreen
from hepatrial.prescreen.load import load_folder


def _summary(result):
    return ([s.patients for s in result.funnel],
            [(c.person_id, c.first_at, c.statuses, c.reasons) for c in result.candidates])  # fmt: skip


@pytest.fixture
def pg_schema(omop_1k):
    url = postgres_url()
    schema = f"prescreen_{uuid.uuid4().hex[:8]}"
    load_folder(url, omop_1k, schema)
    yield url, schema
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_postgresql_runs_the_same_plan_with_the_same_answer(protocol, omop_1k, pg_schema):
    url, schema = pg_schema
    on_pg = run_prescreen(protocol, Source.database("omop", schema), database=url)
    on_duckdb = run_prescreen(protocol, Source.folder(omop_1k))
    assert on_pg.engine == "postgresql" and on_pg.candidates
    assert _summary(on_pg) == _summary(on_duckdb)
    assert all(c.disagreements == [] for c in on_pg.candidates)


def test_postgresql_agrees_with_one_candidate_screening_on_every_lab_day(protocol, pg_schema):
    url, schema = pg_schema
    compared, problems, days = disagreements(protocol, Source.database("omop", schema), database=url)
    assert compared > 70_000 and problems == []


def test_a_bad_database_is_an_error_not_a_crash(protocol):
    from hepatrial.prescreen.engine import EngineError

    with pytest.raises(EngineError, match="PostgreSQL: cannot connect"):
        run_prescreen(protocol, Source.database("omop", "x"), database="postgresql://nobody@127.0.0.1:1/none")


def _integer_digits(node):
    """Read back into DuckDB, BigQuery's INT64 becomes BIGINT, and DuckDB's ROUND wants an
    INTEGER for its digits (BigQuery's takes INT64): cast it, for the read-back only."""
    if isinstance(node, sqlglot.exp.Round) and node.args.get("decimals") is not None:
        node.set("decimals", sqlglot.exp.cast(node.args["decimals"], "INTEGER"))
    return node


@pytest.mark.parametrize("dialect", ["spark", "trino", "bigquery"])
def test_the_sql_for_a_cluster_reads_back_and_gives_duckdbs_answer(protocol, omop_1k, dialect):
    """Each statement of the printed script parses in its dialect; read back into DuckDB's
    dialect it runs over the same tables and gives the same candidates and funnel."""
    native = compile_protocol(protocol, Source.database("omop"), "duckdb")
    printed = compile_protocol(protocol, Source.database("omop"), dialect)
    answers = []
    for plan, read in ((native, "duckdb"), (printed, dialect)):
        con = duckdb.connect()
        for table in OMOP_TABLES:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{omop_1k / (table + '.parquet')}')")
        results = []
        for statement in plan.statements():
            tree = sqlglot.parse_one(statement, read=read)  # the printed SQL is valid in its dialect
            back = tree.transform(_integer_digits).sql(dialect="duckdb")
            cursor = con.execute(back)
            results.append(cursor.fetchall() if back.lstrip().upper().startswith("SELECT") else None)
        answers.append(results)
    for i, (mine, theirs) in enumerate(zip(*answers)):
        assert mine == theirs, (i, [(a, b) for a, b in zip(mine, theirs) if a != b][:2])
    assert answers[0][4]  # candidates found


def test_the_postgresql_script_parses_and_an_unknown_dialect_is_refused(protocol):
    plan = compile_protocol(protocol, Source.database("omop", "cdm"), "postgres")
    assert "IGNORE NULLS" not in plan.script() and "MAX(CASE WHEN" in plan.script()
    for statement in plan.statements():
        sqlglot.parse_one(statement, read="postgres")
    with pytest.raises(CompileError, match="dialect: one of"):
        translate("SELECT 1", "oracle")
    assert set(DIALECTS) == {"duckdb", "postgres", "spark", "trino", "bigquery"}
