"""Benchmark: pre-screening a synthetic OMOP population (issue #7). For 100k and 1M persons
(about 40 rows a person), in one run, each in a fresh process: wall time and peak memory of

- the floor: one DuckDB scan that keeps the measurement rows the criteria need and sums
  their values (nothing is faster that reads the labs);
- the columns: the same scan reading every column a per-patient evaluation in time cannot do
  without (person, time and unit besides test and value), aggregated so that none is skipped:
  no plan that assesses a patient's labs over time can be faster than this;
- hepatrial: the protocol's criteria compiled to SQL, on DuckDB (the per-patient table and
  the candidates' values, as `hepatrial prescreen run` runs them);
Each time is the work itself, once the process has imported its libraries (and, for
hepatrial, compiled the protocol: about 0.1 s, not counted); peak memory is the process's
(PostgreSQL's own memory is not in it).

- what a team would write by hand for this protocol, on the same data: DuckDB SQL with one
  ASOF JOIN per lab; pandas with merge_asof; PostgreSQL with a LATERAL ... LIMIT 1 lookup
  per lab (100k only, with --database; hepatrial's plan on PostgreSQL beside it).

Every approach must return the same candidates (patient and first qualifying time): the
benchmark checks it and says so. The hand-written versions implement the criteria the
synthetic data can decide: unit spellings, impossible values and conflicting duplicates
handled as hepatrial does, 72 h lookback, the 12 h-7 day daily rise, age at the lab day,
diagnoses, MELD above 30 (no dialysis assumed).

    uv run python benchmarks/prescreen.py [--persons 100000,1000000] [--data DIR]
        [--database postgresql://...] [--skip pandas,asof] [--repeat 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

LOINC = {"1975-2": ("bili", "mg/dL"), "14631-6": ("bili", "umol/L"), "6301-6": ("inr", "ratio"),
         "2160-0": ("creat", "mg/dL"), "14682-9": ("creat", "umol/L")}  # fmt: skip
MOLAR = "('umol/l', 'µmol/l', 'μmol/l')"
RATIO = "('', '1', 'ratio', '{inr}', '{ratio}')"


def _duckdb_views(con, folder: Path) -> None:
    for table in ("person", "measurement", "condition_occurrence", "concept"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{folder / (table + '.parquet')}')")


# --- hand-written SQL (DuckDB and PostgreSQL share all but the lookups) -------------------------
def _clean_lab(cast_double: str) -> str:
    codes = ", ".join(f"'{c}'" for c in LOINC)
    tests = " ".join(f"WHEN '{c}' THEN '{t}'" for c, (t, _u) in LOINC.items())
    units = " ".join(f"WHEN '{c}' THEN '{u.lower()}'" for c, (_t, u) in LOINC.items())
    return f"""
    SELECT person_id, ts, test, MAX(v) AS v FROM (
      SELECT person_id, ts, test,
        CASE WHEN test IN ('bili', 'creat') AND u IN {MOLAR} THEN v
             WHEN test = 'bili' AND u = 'mg/dl' THEN CAST(ROUND(CAST(v * 17.1 AS {cast_double}), 9) AS DOUBLE PRECISION)
             WHEN test = 'creat' AND u = 'mg/dl' THEN CAST(ROUND(CAST(v * 88.4 AS {cast_double}), 9) AS DOUBLE PRECISION)
             WHEN test = 'inr' AND u IN {RATIO} THEN v END AS v
      FROM (SELECT m.person_id, m.measurement_datetime AS ts, CASE c.concept_code {tests} END AS test,
                   LOWER(REPLACE(TRIM(COALESCE(m.unit_source_value, CASE c.concept_code {units} END)), ' ', '')) AS u,
                   m.value_as_number AS v
            FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id
            WHERE c.vocabulary_id = 'LOINC' AND c.concept_code IN ({codes}) AND m.value_as_number IS NOT NULL) raw) conv
    WHERE (test = 'bili' AND v BETWEEN 0 AND 2000) OR (test = 'inr' AND v BETWEEN 0.5 AND 20)
       OR (test = 'creat' AND v BETWEEN 10 AND 3000)
    GROUP BY person_id, ts, test HAVING MIN(v) = MAX(v)"""


def _criteria(facts: str, hours: str, epoch: str) -> str:
    """Candidates from ``facts`` (person_id, ts, bili, bili_ts, prev_bili, prev_ts, inr, inr_ts, creat, creat_ts)."""
    fresh = lambda x: f"(f.ts - f.{x}_ts <= {hours(72)})"  # noqa: E731
    return f"""
    , cond AS (SELECT person_id,
          MIN(CASE WHEN condition_source_value LIKE 'K74%' OR condition_source_value LIKE 'B18%' THEN condition_start_date END) AS chronic,
          MIN(CASE WHEN condition_source_value LIKE 'C22%' THEN condition_start_date END) AS cancer,
          MIN(CASE WHEN condition_source_value LIKE 'D65%' OR condition_source_value LIKE 'I85.11%'
                     OR condition_source_value LIKE 'K92.2%' THEN condition_start_date END) AS bleed
        FROM condition_occurrence GROUP BY person_id)
    , g AS (
      SELECT f.person_id, f.ts,
        CASE WHEN {fresh('bili')} THEN f.bili END AS bili,
        CASE WHEN {fresh('inr')} THEN f.inr END AS inr,
        CASE WHEN {fresh('creat')} THEN f.creat END AS creat,
        CASE WHEN {fresh('bili')} AND f.prev_ts >= f.bili_ts - {hours(168)}
             THEN ROUND(CAST((f.bili - f.prev_bili) / (({epoch('f.bili_ts')} - {epoch('f.prev_ts')}) / 3600.0) * 24 AS NUMERIC), 9) END AS rise,
        FLOOR(((EXTRACT(YEAR FROM f.ts) * 10000 + EXTRACT(MONTH FROM f.ts) * 100 + EXTRACT(DAY FROM f.ts))
               - (p.year_of_birth * 10000 + p.month_of_birth * 100 + p.day_of_birth)) / 10000.0) AS age,
        c.chronic <= CAST(f.ts AS DATE) AS chronic, c.cancer <= CAST(f.ts AS DATE) AS cancer,
        c.bleed <= CAST(f.ts AS DATE) AS bleed
      FROM facts f JOIN person p ON p.person_id = f.person_id LEFT JOIN cond c ON c.person_id = f.person_id)
    , h AS (SELECT g.*,
        CASE WHEN bili > 0 AND creat > 0 AND inr > 0 THEN LEAST(40, ROUND(ROUND(CAST(
          0.957 * LN(GREATEST(1.0, LEAST(4.0, creat / 88.4))) + 0.378 * LN(GREATEST(1.0, bili / 17.1))
          + 1.12 * LN(GREATEST(1.0, inr)) + 0.643 AS NUMERIC), 1) * 10)) END AS meld
      FROM g)
    SELECT person_id, MIN(ts) AS first_ts FROM h
    WHERE age BETWEEN 18 AND 65
      AND NOT (COALESCE(chronic, FALSE) AND bili < 171)
      AND (bili >= 171 OR rise >= 17.1) AND inr BETWEEN 1.5 AND 2.6
      AND NOT COALESCE(cancer, FALSE) AND NOT COALESCE(bleed, FALSE) AND meld <= 30
    GROUP BY person_id"""


def asof_sql() -> str:
    return f"""
    WITH lab AS ({_clean_lab('DOUBLE')}),
    points AS (SELECT person_id, MAX(ts) AS ts FROM lab GROUP BY person_id, CAST(ts AS DATE)),
    bili AS (SELECT person_id, ts, v FROM lab WHERE test = 'bili'),
    inr AS (SELECT person_id, ts, v FROM lab WHERE test = 'inr'),
    creat AS (SELECT person_id, ts, v FROM lab WHERE test = 'creat'),
    j AS (SELECT p.person_id, p.ts, b.v AS bili, b.ts AS bili_ts, i.v AS inr, i.ts AS inr_ts, c.v AS creat, c.ts AS creat_ts
          FROM points p
          ASOF LEFT JOIN bili b ON b.person_id = p.person_id AND b.ts <= p.ts
          ASOF LEFT JOIN inr i ON i.person_id = p.person_id AND i.ts <= p.ts
          ASOF LEFT JOIN creat c ON c.person_id = p.person_id AND c.ts <= p.ts),
    facts AS (SELECT j.*, pb.v AS prev_bili, pb.ts AS prev_ts FROM j
          ASOF LEFT JOIN bili pb ON pb.person_id = j.person_id AND pb.ts <= j.bili_ts - INTERVAL 12 HOUR)
    {_criteria('facts', lambda h: f"INTERVAL {h} HOUR", lambda x: f"EPOCH({x})")}"""


def lateral_sql() -> tuple[list[str], str]:
    setup = [
        f"CREATE TEMPORARY TABLE lab AS {_clean_lab('NUMERIC')}",
        "CREATE INDEX ON lab (person_id, test, ts)",
        "ANALYZE lab",
    ]

    def latest(test: str, at: str) -> str:
        return (f"LEFT JOIN LATERAL (SELECT v, ts FROM lab l WHERE l.person_id = p.person_id AND l.test = '{test}' "
                f"AND l.ts <= {at} ORDER BY l.ts DESC LIMIT 1) {test} ON TRUE")  # fmt: skip

    query = f"""
    WITH points AS (SELECT person_id, MAX(ts) AS ts FROM lab GROUP BY person_id, CAST(ts AS DATE)),
    j AS (SELECT p.person_id, p.ts, bili.v AS bili, bili.ts AS bili_ts, inr.v AS inr, inr.ts AS inr_ts,
                 creat.v AS creat, creat.ts AS creat_ts
          FROM points p {latest('bili', 'p.ts')} {latest('inr', 'p.ts')} {latest('creat', 'p.ts')}),
    facts AS (SELECT j.*, pb.v AS prev_bili, pb.ts AS prev_ts FROM j
          LEFT JOIN LATERAL (SELECT v, ts FROM lab l WHERE l.person_id = j.person_id AND l.test = 'bili'
                             AND l.ts <= j.bili_ts - INTERVAL '12 hours' ORDER BY l.ts DESC LIMIT 1) pb ON TRUE)
    {_criteria('facts', lambda h: f"INTERVAL '{h} hours'", lambda x: f"EXTRACT(EPOCH FROM {x})")}"""
    return setup, query


# --- the approaches, each run in a fresh process ----------------------------------------------------
def _scan(folder: Path, aggregates: str) -> tuple[float, None]:
    """One DuckDB scan of the measurement rows the criteria need, computing ``aggregates``."""
    import duckdb

    con = duckdb.connect()
    _duckdb_views(con, folder)
    ids = [r[0] for r in con.execute(
        f"SELECT concept_id FROM concept WHERE vocabulary_id = 'LOINC' AND concept_code IN ({', '.join(repr(c) for c in LOINC)})").fetchall()]  # fmt: skip
    started = time.perf_counter()
    con.execute(f"SELECT {aggregates} FROM measurement WHERE measurement_concept_id IN ({', '.join(map(str, ids))})").fetchall()
    return time.perf_counter() - started, None


def run_floor(folder: Path, _db: str | None):
    return _scan(folder, "COUNT(*), SUM(value_as_number)")


def run_columns(folder: Path, _db: str | None):
    return _scan(folder, "COUNT(*), SUM(value_as_number), MAX(person_id), MAX(measurement_datetime), MAX(unit_source_value)")


def run_hepatrial(folder: Path, database: str | None):
    from hepatrial.core.prescreen.compile import compile_protocol
    from hepatrial.core.prescreen.sources import Source
    from hepatrial.core.protocol import load_protocol
    from hepatrial.prescreen.engine import open_engine

    engine = open_engine(database)
    source = Source.database("omop", "bench") if database else Source.folder(folder)
    plan = compile_protocol(load_protocol(), source, "postgres" if database else "duckdb")
    started = time.perf_counter()
    create, redo, drop, insert, candidates, *_rest = plan.statements()
    for statement in ("DROP TABLE IF EXISTS hepatrial_prescreen", "DROP TABLE IF EXISTS hepatrial_prescreen_redo",
                      create, redo, drop, insert):  # fmt: skip
        engine.execute(statement)
    columns, rows = engine.fetch(candidates)
    i, j = columns.index("person_id"), columns.index("taken_at")
    return time.perf_counter() - started, {(int(r[i]), r[j]) for r in rows}


def run_asof(folder: Path, _db: str | None):
    import duckdb

    con = duckdb.connect()
    _duckdb_views(con, folder)
    started = time.perf_counter()
    found = {(int(p), t) for p, t in con.execute(asof_sql()).fetchall()}
    return time.perf_counter() - started, found


def run_lateral(_folder: Path, database: str | None):
    import psycopg

    setup, query = lateral_sql()
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("SET search_path TO bench")
        started = time.perf_counter()
        for statement in setup:
            con.execute(statement)
        found = {(int(p), t) for p, t in con.execute(query).fetchall()}
        return time.perf_counter() - started, found


def run_pandas(folder: Path, _db: str | None):
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    started = time.perf_counter()
    concept = pq.read_table(folder / "concept.parquet").to_pandas()
    concept = concept[(concept.vocabulary_id == "LOINC") & concept.concept_code.isin(list(LOINC))]
    test_of = {r.concept_id: LOINC[r.concept_code][0] for r in concept.itertuples()}
    unit_of = {r.concept_id: LOINC[r.concept_code][1] for r in concept.itertuples()}
    m = pq.read_table(folder / "measurement.parquet", columns=["person_id", "measurement_concept_id", "measurement_datetime",
                                                                "value_as_number", "unit_source_value"],
                      filters=[("measurement_concept_id", "in", list(test_of))]).to_pandas()  # fmt: skip
    m = m[m.value_as_number.notna()]
    test = m.measurement_concept_id.map(test_of)
    unit = m.unit_source_value.fillna(m.measurement_concept_id.map(unit_of)).str.strip().str.lower().str.replace(" ", "")
    v = m.value_as_number.to_numpy()
    molar, mass = unit.isin(["umol/l", "µmol/l", "μmol/l"]).to_numpy(), (unit == "mg/dl").to_numpy()
    t = test.to_numpy()
    value = np.full(len(m), np.nan)
    value = np.where((t == "bili") & molar | (t == "creat") & molar, v, value)
    value = np.where((t == "bili") & mass, np.round(v * 17.1, 9), value)
    value = np.where((t == "creat") & mass, np.round(v * 88.4, 9), value)
    value = np.where((t == "inr") & unit.isin(["", "1", "ratio", "{inr}", "{ratio}"]).to_numpy(), v, value)
    lab = pd.DataFrame({"person_id": m.person_id.to_numpy(), "ts": m.measurement_datetime.to_numpy().astype("datetime64[ns]"),
                        "test": t, "v": value})
    ok = ((lab.test == "bili") & lab.v.between(0, 2000)) | ((lab.test == "inr") & lab.v.between(0.5, 20)) | (
        (lab.test == "creat") & lab.v.between(10, 3000))
    lab = lab[ok]
    agg = lab.groupby(["person_id", "ts", "test"], sort=False).v.agg(["min", "max"]).reset_index()
    lab = agg[agg["min"] == agg["max"]].rename(columns={"max": "v"}).drop(columns="min")
    points = lab.assign(day=lab.ts.dt.floor("D")).groupby(["person_id", "day"], sort=False).ts.max().reset_index()
    points = points.sort_values("ts")
    facts = points
    for name in ("bili", "inr", "creat"):
        series = lab[lab.test == name][["person_id", "ts", "v"]].sort_values("ts").rename(columns={"v": name})
        series[f"{name}_ts"] = series.ts
        facts = pd.merge_asof(facts, series, on="ts", by="person_id", direction="backward")
    bili = lab[lab.test == "bili"][["person_id", "ts", "v"]].sort_values("ts").rename(columns={"v": "prev_bili"})
    bili["prev_ts"] = bili.ts
    probe = facts[facts.bili_ts.notna()].assign(probe=lambda f: f.bili_ts - pd.Timedelta(hours=12)).sort_values("probe")
    probe = pd.merge_asof(probe, bili.rename(columns={"ts": "probe"}), on="probe", by="person_id", direction="backward")
    facts = facts.merge(probe[["person_id", "ts", "prev_bili", "prev_ts"]], on=["person_id", "ts"], how="left")
    hours = lambda a, b: (a - b).dt.total_seconds() / 3600  # noqa: E731
    for name in ("bili", "inr", "creat"):
        facts.loc[~(hours(facts.ts, facts[f"{name}_ts"]) <= 72), name] = np.nan
    ok_prev = facts.bili.notna() & (hours(facts.bili_ts, facts.prev_ts) <= 168)
    rise = ((facts.bili - facts.prev_bili) / hours(facts.bili_ts, facts.prev_ts) * 24).round(9).where(ok_prev)
    person = pq.read_table(folder / "person.parquet", columns=["person_id", "year_of_birth", "month_of_birth", "day_of_birth"]).to_pandas()
    facts = facts.merge(person, on="person_id", how="left")
    ymd = facts.ts.dt.year * 10000 + facts.ts.dt.month * 100 + facts.ts.dt.day
    age = np.floor((ymd - (facts.year_of_birth * 10000 + facts.month_of_birth * 100 + facts.day_of_birth)) / 10000.0)
    cond = pq.read_table(folder / "condition_occurrence.parquet").to_pandas()
    code = cond.condition_source_value.fillna("")
    day = facts.ts.dt.floor("D")
    flags = {}
    for name, prefixes in (("chronic", ("K74", "B18")), ("cancer", ("C22",)), ("bleed", ("D65", "I85.11", "K92.2"))):
        first = cond[code.str.startswith(prefixes)].groupby("person_id").condition_start_date.min()
        start = pd.to_datetime(facts.person_id.map(first))
        flags[name] = (start <= day).fillna(False)
    creat_mg = (facts.creat / 88.4).clip(1.0, 4.0)
    raw = 0.957 * np.log(creat_mg) + 0.378 * np.log((facts.bili / 17.1).clip(lower=1.0)) + 1.12 * np.log(facts.inr.clip(lower=1.0)) + 0.643
    meld = np.minimum(40, np.floor(raw * 10 + 0.5 + 1e-9))  # round half up to a tenth, times 10
    candidate = (age.between(18, 65) & ~(flags["chronic"] & (facts.bili < 171))
                 & ((facts.bili >= 171) | (rise >= 17.1)) & facts.inr.between(1.5, 2.6)
                 & ~flags["cancer"] & ~flags["bleed"] & (meld <= 30))  # fmt: skip
    first = facts[candidate].groupby("person_id").ts.min()
    return time.perf_counter() - started, {(int(p), ts.to_pydatetime()) for p, ts in first.items()}


APPROACHES = {"floor": run_floor, "columns": run_columns, "hepatrial": run_hepatrial, "asof": run_asof, "pandas": run_pandas,
              "postgresql-lateral": run_lateral, "hepatrial-postgresql": run_hepatrial}  # fmt: skip
LABELS = {"floor": "floor: one DuckDB scan of the rows the criteria need",
          "columns": "the same scan reading person, time and unit too (no computation)", "hepatrial": "hepatrial, compiled SQL on DuckDB",
          "asof": "hand-written DuckDB SQL, one ASOF JOIN per lab", "pandas": "hand-written pandas, merge_asof",
          "postgresql-lateral": "hand-written PostgreSQL, LATERAL ... LIMIT 1 per lab",
          "hepatrial-postgresql": "hepatrial, compiled SQL on PostgreSQL"}  # fmt: skip


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: since it started, unlike ru_maxrss,
    which a spawned process inherits from its parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(name: str, folder: str, database: str | None, out) -> None:
    try:
        seconds, candidates = APPROACHES[name](Path(folder), database)
        out.send((seconds, _peak_mb(), candidates))
    except BaseException:  # noqa: BLE001 - reported by the parent
        import traceback

        out.send(traceback.format_exc())


def measure(name: str, folder: Path, database: str | None) -> tuple[float, float, set | None]:
    context = mp.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(name, str(folder), database, child))
    process.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        raise SystemExit(f"{name}: the process ended without a result (out of memory?)") from None
    process.join()
    if isinstance(result, str):
        raise SystemExit(f"{name} failed:\n{result}")
    return result


def ensure_population(data: Path, persons: int) -> Path:
    from hepatrial.core.prescreen.synth import synthesize, write_extract

    folder = data / f"omop-{persons}"
    if not (folder / "measurement.parquet").exists():
        print(f"writing a synthetic population of {persons:,} persons into {folder} ...", file=sys.stderr)
        write_extract(synthesize(persons, seed=1, end=__import__("datetime").date(2026, 11, 1)), folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", default="100000,1000000")
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "hepatrial-prescreen-bench"))
    parser.add_argument("--database", default=None, help="PostgreSQL URL for the LATERAL approach (100k only)")
    parser.add_argument("--skip", default="", help="approaches to leave out, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each approach (the median is shown)")
    args = parser.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    rows = []
    for persons in (int(p) for p in args.persons.split(",")):
        folder = ensure_population(Path(args.data), persons)
        names = [n for n in ("floor", "columns", "hepatrial", "asof", "pandas") if n not in skip]
        if args.database and persons <= 100_000:
            from hepatrial.prescreen.load import load_folder

            print(f"loading {persons:,} persons into PostgreSQL (not timed) ...", file=sys.stderr)
            load_folder(args.database, folder, "bench")
            names += [n for n in ("hepatrial-postgresql", "postgresql-lateral") if n not in skip]
        answers = {}
        for name in names:
            runs = [measure(name, folder, args.database if "postgresql" in name else None) for _ in range(args.repeat)]
            seconds = statistics.median(r[0] for r in runs)
            rows.append((persons, name, seconds, max(r[1] for r in runs)))
            if runs[0][2] is not None:
                answers[name] = runs[0][2]
            print(f"  {persons:>9,} {name:<22} {seconds:8.2f} s", file=sys.stderr)
        reference = answers.get("hepatrial")
        for name, found in answers.items():
            same = found == reference
            print(f"{persons:,} persons: {name} finds {len(found)} candidates"
                  f"{'' if same else ' -- NOT the same as hepatrial: ' + str(sorted(found ^ reference)[:5])}")  # fmt: skip
    print()
    print("| persons | approach | seconds | peak memory (MB) | vs floor | hepatrial faster by |")
    print("|---:|---|---:|---:|---:|---:|")
    for persons, name, seconds, mb in rows:
        floor = next((s for p, n, s, _m in rows if p == persons and n == "floor"), None)
        ours = next((s for p, n, s, _m in rows if p == persons and n == ("hepatrial-postgresql" if name == "postgresql-lateral" else "hepatrial")), None)
        ratio = f"{seconds / floor:.1f}x" if floor else ""
        faster = f"{seconds / ours:.1f}x" if ours and name not in ("floor", "columns", "hepatrial", "hepatrial-postgresql") else ""
        print(f"| {persons:,} | {LABELS[name]} | {seconds:.2f} | {mb:,.0f} | {ratio} | {faster} |")


if __name__ == "__main__":
    main()
