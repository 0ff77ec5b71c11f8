"""The protocol's criteria compiled to SQL: the same bound rules that screen one candidate
(:mod:`hepatrial.core.screening`) evaluated for every patient and lab day of a source.

The plan reads the lab rows once. It converts each result to its test's canonical unit,
drops what one-candidate screening would refuse (an unknown unit, an impossible value, a
test given twice at one time with two values), pivots the results into one row per patient
and draw time, and runs ordered windows per patient over that series. A patient's *lab day*
is assessed at its last draw, as a clinician screening that evening would be; the rules
then compile to SQL expressions in three-valued logic, which is SQL's own (``NULL`` is
unknown; :mod:`hepatrial.core.criteria.sql`).

Two plans give the same rows. On DuckDB, one window pass carries each test's latest result
forward and finds a rising test's previous result among the LAGS draws before the latest
(``_carried_by_lags``); a patient with more draws than that within the daily-rise minimum
is marked and evaluated again by the other plan, which finds the previous result with a
RANGE frame and carries the rise forward in a second pass (the only plan on the other
engines). Times are whole microseconds since 1970, as exact as the source's timestamps.

Written in DuckDB's dialect and translated by sqlglot for the others (a construct sqlglot
cannot translate is an error, never dropped). PostgreSQL has no ``IGNORE NULLS``: there the
last non-null value is the largest ``[time, value]`` pair of the frame; it rounds and takes
logarithms of doubles its own way too; and a subquery whose values are read many times is
fenced so that it is computed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from hepatrial.core.criteria.ast import Call, Field, walk
from hepatrial.core.criteria.check import SCORE_FUNCTIONS
from hepatrial.core.criteria.sql import CompileError, RuleSQL, column, number, quote
from hepatrial.core.criteria.vocabulary import candidate_fields
from hepatrial.core.labs import LAB_TESTS
from hepatrial.core.prescreen.sources import Source
from hepatrial.core.prescreen.vocabulary import Vocabulary, default_vocabulary
from hepatrial.core.protocol import Protocol
from hepatrial.core.scores import meld as meld_module
from hepatrial.core.scores.panel import score_inputs
from hepatrial.core.units import _ALIASES, _factor

DIALECTS = ("duckdb", "postgres", "spark", "trino", "bigquery")
#: Fields every source gives from its patients table.
PERSON_FIELDS = ("age", "sex")
#: Stands for "drawn, but no previous result for a rise" while a rise is carried forward
#: (IGNORE NULLS would otherwise reach back to an older draw's rise).
_NO_RISE = -1.0e300

#: Where the candidates query restricts the lab rows to the candidates (removed otherwise).
_PERSONS_MARK = "/*persons*/"
#: Where the plan's windowed series goes (by lags, or by RANGE frames: see _carried_by_lags).
_CARRIED = "/*carried*/"
#: Draws looked back by the lag plan for a rise's previous result.
LAGS = 2



@dataclass(frozen=True)
class CriterionPlan:
    id: str
    kind: str  # inclusion | exclusion
    text: str
    column: str
    #: Fields the rule reads that the source cannot settle (a clinician's, or a diagnosis
    #: whose absence proves nothing): an unknown here is "to check", not missing data.
    clinician_fields: tuple[str, ...]

    @property
    def to_check(self) -> bool:
        return bool(self.clinician_fields)


@dataclass(frozen=True)
class ValueColumn:
    column: str
    label: str  # what it is: "latest total_bilirubin (umol/L)"
    unit: str | None = None


@dataclass(frozen=True)
class CompiledPlan:
    protocol_id: str
    dialect: str
    tests: tuple[str, ...]
    criteria: tuple[CriterionPlan, ...]
    values: tuple[ValueColumn, ...]
    days_sql: str  # one row per patient and lab day, every value and status
    depth_sql: str  # one row per patient and lab day: the funnel depth only
    exact_days_sql: str  # the same two by RANGE frames (no limit of LAGS draws; see _carried_by_lags)
    exact_depth_sql: str
    person_sql: str
    raw_lab_sql: str
    condition_sql: str | None
    instant_sql: str  # the instant of a row's taken_at, in microseconds (as the plan computes it)
    assumptions: tuple[tuple[str, bool, str], ...]
    #: The plan's stages in order (lab, series, rises, carried, facts, days), each a query.
    stages: tuple[tuple[str, str], ...] = ()

    def summary_sql(self, exact: bool = False, persons_sql: str | None = None) -> str:
        """One row per patient: the deepest funnel step reached on any lab day, the first
        qualifying time, how many lab days qualify, and whether the patient needs the exact
        (RANGE-frame) plan; for the persons ``persons_sql`` selects, if given."""
        depth = self.exact_depth_sql if exact else self.depth_sql
        restrict = f"WHERE person_id IN ({persons_sql})" if persons_sql else ""
        return self._render(
            "SELECT person_id, MAX(depth) AS depth, MIN(t) FILTER (WHERE candidate) AS first_t, "
            "COUNT(*) FILTER (WHERE candidate) AS candidate_days, COUNT(*) AS lab_days, "
            "MAX(CASE WHEN needs_more THEN 1 ELSE 0 END) AS needs_more "
            f"FROM ({depth.replace(_PERSONS_MARK, restrict)}) AS days GROUP BY person_id"
        )

    def candidates_sql(self, table: str = "hepatrial_prescreen") -> str:
        """The values and statuses of each candidate at its first qualifying time: the exact
        plan run again on the candidates' lab rows only (``table`` holds the summary)."""
        only = f"SELECT person_id FROM {table} WHERE first_t IS NOT NULL"
        days = self.exact_days_sql.replace(_PERSONS_MARK, f"WHERE person_id IN ({only})")
        return self._render(
            f"SELECT s.candidate_days, s.lab_days, d.* FROM ({days}) AS d JOIN {table} AS s "
            f"ON s.person_id = d.person_id AND s.first_t = d.t ORDER BY d.t, d.person_id"
        )

    def statements(self) -> list[str]:
        """The script a database runs: the per-patient table (patients the lag plan cannot
        settle evaluated again by the exact plan), the candidates, the funnel, the patients."""
        redo = "SELECT person_id FROM hepatrial_prescreen_redo"
        return [
            f"CREATE TEMPORARY TABLE hepatrial_prescreen AS {self.summary_sql()}",
            self._render("CREATE TEMPORARY TABLE hepatrial_prescreen_redo AS "
                         "SELECT person_id FROM hepatrial_prescreen WHERE needs_more = 1"),  # fmt: skip
            self._render(f"DELETE FROM hepatrial_prescreen WHERE person_id IN ({redo})"),
            f"INSERT INTO hepatrial_prescreen {self.summary_sql(exact=True, persons_sql=redo)}",
            self.candidates_sql(),
            self._render("SELECT depth, COUNT(*) AS patients FROM hepatrial_prescreen GROUP BY depth ORDER BY depth"),
            self._render(f"SELECT COUNT(DISTINCT person_id) AS patients FROM ({self.person_sql}) AS p"),
        ]

    def script(self) -> str:
        return ";\n\n".join(self.statements()) + ";\n"

    def source_rows_sql(self, persons_sql: str) -> dict[str, str]:
        """The source's rows of the persons ``persons_sql`` selects: ``person``, ``lab`` and
        (when the source has diagnoses) ``condition`` queries, in this plan's dialect."""
        where = f"WHERE person_id IN ({persons_sql})"
        queries = {
            "person": f"SELECT person_id, birth_year, birth_month, birth_day, sex FROM ({self.person_sql}) AS p {where}",
            "lab": f"SELECT person_id, test_id, taken_at, {self.instant_sql} AS t, value, unit FROM ({self.raw_lab_sql}) AS r {where}",
        }
        if self.condition_sql:
            queries["condition"] = (f"SELECT person_id, field, MIN(start_date) AS start_date FROM ({self.condition_sql}) AS c "
                                    f"{where} GROUP BY person_id, field")  # fmt: skip
        return {name: self._render(sql) for name, sql in queries.items()}

    def days_export_sql(self) -> str:
        """Every patient and lab day: the values used and each criterion's status as text
        (met, not_met, unknown, to_check), the exact plan for patients the lag plan cannot settle."""
        statuses = ", ".join(
            f"CASE WHEN {c.column} THEN 'met' WHEN NOT {c.column} THEN 'not_met' "
            f"ELSE '{'to_check' if c.to_check else 'unknown'}' END AS {c.column.removeprefix('c__')}"
            for c in self.criteria
        )
        values = ", ".join(v.column for v in self.values)
        fast = self.days_sql.replace(_PERSONS_MARK, "")
        redo = f"SELECT person_id FROM ({fast}) AS f WHERE needs_more"
        exact = self.exact_days_sql.replace(_PERSONS_MARK, f"WHERE person_id IN ({redo})")
        both = (f"SELECT * FROM ({fast}) AS f WHERE person_id NOT IN ({redo}) "
                f"UNION ALL SELECT * FROM ({exact}) AS e")  # fmt: skip
        return self._render(f"SELECT person_id, taken_at AS assessed_at, {values}, {statuses}, candidate "
                            f"FROM ({both}) AS days ORDER BY person_id, assessed_at")  # fmt: skip

    def days_query(self, exact: bool = False) -> str:
        """Every patient and lab day, with the values and each criterion's status (check
        ``needs_more``: a row that has it must be taken from the exact plan)."""
        days = (self.exact_days_sql if exact else self.days_sql).replace(_PERSONS_MARK, "")
        return self._render(f"SELECT * FROM ({days}) AS days ORDER BY person_id, t")

    def _render(self, duckdb_sql: str) -> str:
        return translate(duckdb_sql, self.dialect)


def translate(duckdb_sql: str, dialect: str) -> str:
    """``duckdb_sql`` in ``dialect``; a construct sqlglot cannot translate is an error, never dropped."""
    if dialect == "duckdb":
        return duckdb_sql
    if dialect not in DIALECTS:
        raise CompileError(f"dialect: one of {', '.join(DIALECTS)}, got {dialect!r}")
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    if dialect in ("bigquery", "spark"):  # sqlglot writes TIME_TO_UNIX (no such BigQuery function),
        # and Spark's UNIX_TIMESTAMP reads a string: both have UNIX_SECONDS(TIMESTAMP)
        tree = tree.transform(lambda node: exp.Anonymous(this="UNIX_SECONDS", expressions=[
            exp.Anonymous(this="TIMESTAMP", expressions=[node.this])]) if isinstance(node, exp.TimeToUnix) else node)  # fmt: skip
    try:
        return tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as err:
        raise CompileError(f"dialect {dialect}: sqlglot cannot translate the plan: {str(err).splitlines()[0]}") from None


_col, _number = column, number


def _round12(x: str, dialect: str) -> str:
    """``x`` rounded to 12 significant digits, as units.round_significant does."""
    digits = f"11 - CAST(FLOOR(LOG10(ABS({x}))) AS INTEGER)"
    if dialect == "postgres":  # PostgreSQL's round() takes no digits for a double; its log() is base 10
        digits = f"(11 - FLOOR(LOG(ABS({x}))))"
        rounded = f"(ROUND({x} * POWER(10.0, {digits})) / POWER(10.0, {digits}))"
    else:
        rounded = f"ROUND({x}, {digits})"
    return f"(CASE WHEN {x} = 0 THEN {x} ELSE {rounded} END)"


def _instant_us(column: str, time_zone: str, dialect: str) -> str:
    """Microseconds since 1970-01-01 UTC of the clock time ``column`` in ``time_zone``."""
    clock = column if time_zone == "UTC" else f"TIMEZONE({quote(time_zone)}, {column})"
    if dialect == "duckdb":
        return f"EPOCH_US({clock})"
    return f"CAST(EPOCH({clock}) * 1000000 AS BIGINT)"


def _barrier(dialect: str) -> str:
    """Ends a subquery PostgreSQL must compute once: flattened, its expressions would be
    computed again in every aggregate that reads them."""
    return " OFFSET 0" if dialect == "postgres" else ""


def _round_half_up(x: str, digits: int, dialect: str) -> str:
    if dialect == "postgres":
        return f"CAST(ROUND(CAST({x} AS NUMERIC), {digits}) AS DOUBLE)"
    return f"ROUND({x}, {digits})"


def _last_nonnull(x: str, window: str, dialect: str) -> str:
    """The last non-null ``x`` of the window frame (ordered by ``t``)."""
    if dialect == "postgres":  # no IGNORE NULLS: the largest [t, x] pair is the last non-null x
        return f"(MAX(CASE WHEN {x} IS NOT NULL THEN [CAST(t AS DOUBLE), {x}] END) OVER {window})[2]"
    return f"LAST_VALUE({x} IGNORE NULLS) OVER {window}"


def _carried_by_lags(series: str, tests: tuple[str, ...], ids: dict[str, int], rise_tests: list[str],
                     rise_min: int, rise_max: int, time_zone: str) -> str:  # fmt: skip
    """The windowed series in one sort (DuckDB): each test's latest result carried forward,
    and for a rising test its previous result found among the LAGS draws before the latest.
    The previous result is the latest draw at least ``rise_min`` before the latest one; the
    draws before it are newest first, so the first of them old enough is it. When none of
    the LAGS is old enough and there are more draws (more than LAGS draws within
    ``rise_min``), the row says ``needs_more`` and the patient is evaluated again with the
    RANGE-frame plan, which has no such limit."""
    order = "(PARTITION BY person_id ORDER BY t ASC NULLS FIRST)"
    carry = "(PARTITION BY person_id ORDER BY t ASC NULLS FIRST ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    windows = ["person_id", "taken_at", "t", "LEAD(taken_at) OVER " + order + " AS next_taken_at"]
    for test in tests:
        k = ids[test]
        windows += [f"LAST_VALUE(v{k} IGNORE NULLS) OVER {carry} AS l{k}",
                    f"MAX(CASE WHEN v{k} IS NOT NULL THEN t END) OVER {carry} AS lt{k}"]  # fmt: skip
        if time_zone != "UTC":  # the clock time of the latest result (a clock can go back an hour)
            windows.append(f"LAST_VALUE(CASE WHEN v{k} IS NOT NULL THEN taken_at END IGNORE NULLS) OVER {carry} AS la{k}")
        if test in rise_tests:
            windows.append(f"v{k}")
            for j in range(1, LAGS + 2):
                windows += [f"LAG(v{k}, {j} IGNORE NULLS) OVER {order} AS g{k}_{j}",
                            f"LAG(CASE WHEN v{k} IS NOT NULL THEN t END, {j} IGNORE NULLS) OVER {order} AS gt{k}_{j}"]  # fmt: skip
    # the time of a latest result from its epoch seconds (one window fewer than carrying it)
    projected = ["person_id", "taken_at", "t", "next_taken_at"] + [
        f"l{ids[t]}, lt{ids[t]}, {f'MAKE_TIMESTAMP(lt{ids[t]})' if time_zone == 'UTC' else f'la{ids[t]}'} AS la{ids[t]}"
        for t in tests]
    needs_more = []
    for test in rise_tests:
        k = ids[test]
        # the latest draw is this row's, or the one before it; the candidates follow it, newest first
        latest_t = f"lt{k}"
        latest_v = f"l{k}"
        candidates = [(f"CASE WHEN v{k} IS NOT NULL THEN g{k}_{j} ELSE g{k}_{j + 1} END",
                       f"CASE WHEN v{k} IS NOT NULL THEN gt{k}_{j} ELSE gt{k}_{j + 1} END") for j in range(1, LAGS + 1)]  # fmt: skip
        old_enough = [f"{ct} <= {latest_t} - {rise_min}" for _cv, ct in candidates]
        prev_t = "CASE " + " ".join(f"WHEN {ok} THEN {ct}" for ok, (_cv, ct) in zip(old_enough, candidates)) + " END"
        prev_v = "CASE " + " ".join(f"WHEN {ok} THEN {cv}" for ok, (cv, _ct) in zip(old_enough, candidates)) + " END"
        hours = f"(CAST({latest_t} - ({prev_t}) AS DOUBLE) / 1000000.0 / 3600.0)"
        rise = _round12(f"(({latest_v} - ({prev_v})) / {hours} * 24)", "duckdb")
        projected.append(f"CASE WHEN ({prev_t}) >= {latest_t} - {rise_max} THEN {rise} END AS r{k}")
        needs_more.append(f"({latest_t} IS NOT NULL AND ({prev_t}) IS NULL AND ({candidates[-1][1]}) IS NOT NULL)")
    projected.append(f"({' OR '.join(needs_more) if needs_more else 'FALSE'}) AS needs_more")
    return f"SELECT {', '.join(projected)} FROM (SELECT {', '.join(windows)} FROM ({series}) AS series) AS lagged"


#: What str.strip() removes at the ends of a unit (Unicode's other spaces are not expected in units).
_STRIP = " \t\n\r\x0b\x0c"


def _unit_key(unit: str) -> str:
    """A reported unit as core.labs reads it: missing or exactly empty is no unit (''); else
    stripped of whitespace at both ends, spaces removed, lower case (units.normalize_unit),
    and a unit of only whitespace matches nothing (it is refused, not read as no unit)."""
    stripped = f"LOWER(REPLACE(TRIM(BOTH {quote(_STRIP)} FROM {unit}), ' ', ''))"
    return f"CASE WHEN {unit} IS NULL OR {unit} = '' THEN '' ELSE COALESCE(NULLIF({stripped}, ''), ' ') END"


def _unit_table(tests: tuple[str, ...]) -> str:
    """Every accepted spelling of every unit of ``tests`` (normalised as units.normalize_unit
    does), with the factor to the test's canonical unit and its impossible bounds."""
    rows = []
    for k, test in enumerate(tests, start=1):
        lab = LAB_TESTS[test]
        for accepted in lab.accepted_units:
            factor = _factor(test, accepted, lab.canonical_unit)
            assert factor is not None, (test, accepted)
            spellings = {key for key, v in _ALIASES.items() if v == accepted} | {accepted.lower()}
            if lab.dimensionless:
                spellings.add("")  # no unit: a ratio (core.labs.accepted_unit)
            for spelling in sorted(spellings):
                rows.append(f"({k}, {quote(spelling)}, {_number(factor)}, {_number(lab.impossible_below)}, "
                            f"{_number(lab.impossible_above)})")  # fmt: skip
    return f"SELECT * FROM (VALUES {', '.join(rows)}) AS u(test_id, unit, factor, low, high)"


def _score_sql(name: str, c: dict[str, str], dialect: str) -> str:
    """A MELD-family score from the latest values (canonical units), as core.scores.meld computes it."""
    m = meld_module
    # as core.scores.panel converts them (units.convert: the factor, then 12 significant digits)
    mg = {t: _round12(f"({c[t]} * {_number(_factor(t, 'umol/L', 'mg/dL'))})", dialect) for t in ("total_bilirubin", "creatinine")}
    bili = f"(CASE WHEN {mg['total_bilirubin']} < 1.0 THEN 1.0 ELSE {mg['total_bilirubin']} END)"
    inr = f"(CASE WHEN {c['inr']} < 1.0 THEN 1.0 ELSE {c['inr']} END)"
    positive = f"{c['total_bilirubin']} > 0 AND {c['creatinine']} > 0 AND {c['inr']} > 0"
    dialysis = c["dialysis_twice_past_week"]
    if name in ("meld", "meld_na"):
        cap = _number(m.MELD_CREATININE_CAP_MG_DL)
        creat = (f"(CASE WHEN {dialysis} THEN {cap} WHEN {mg['creatinine']} < 1.0 THEN 1.0 "
                 f"WHEN {mg['creatinine']} > {cap} THEN {cap} ELSE {mg['creatinine']} END)")  # fmt: skip
        raw = (f"((({_number(m.MELD_COEF_CREATININE)} * LN({creat}) + {_number(m.MELD_COEF_BILIRUBIN)} * LN({bili})) "
               f"+ {_number(m.MELD_COEF_INR)} * LN({inr})) + {_number(m.MELD_CONSTANT)})")  # fmt: skip
        initial = f"ROUND({_round_half_up(raw, 1, dialect)} * 10, 0)"
        if name == "meld":
            value = f"(CASE WHEN {initial} > {m.MELD_MAX} THEN {m.MELD_MAX} ELSE {initial} END)"
            return f"(CASE WHEN {positive} AND {dialysis} IS NOT NULL THEN {value} END)"
        na = c["sodium"]
        sodium = (f"(CASE WHEN {na} < {_number(m.SODIUM_LOW_MMOL_L)} THEN {_number(m.SODIUM_LOW_MMOL_L)} "
                  f"WHEN {na} > {_number(m.SODIUM_HIGH_MMOL_L)} THEN {_number(m.SODIUM_HIGH_MMOL_L)} ELSE {na} END)")  # fmt: skip
        deficit = f"({_number(m.SODIUM_HIGH_MMOL_L)} - {sodium})"
        corrected = (f"(({initial} + {_number(m.MELD_NA_COEF_SODIUM)} * {deficit}) "
                     f"- {_number(m.MELD_NA_COEF_INTERACTION)} * {initial} * {deficit})")  # fmt: skip
        unrounded = f"(CASE WHEN {initial} > {m.MELD_NA_THRESHOLD} THEN {corrected} ELSE {initial} END)"
        rounded = _round_half_up(unrounded, 0, dialect)
        value = f"(CASE WHEN {rounded} > {m.MELD_MAX} THEN {m.MELD_MAX} ELSE {rounded} END)"
        return f"(CASE WHEN {positive} AND {na} > 0 AND {dialysis} IS NOT NULL THEN {value} END)"
    # MELD 3.0 (Kim 2021)
    cap = _number(m.MELD3_CREATININE_CAP_MG_DL)
    creat = (f"(CASE WHEN {dialysis} THEN {cap} WHEN {mg['creatinine']} < 1.0 THEN 1.0 "
             f"WHEN {mg['creatinine']} > {cap} THEN {cap} ELSE {mg['creatinine']} END)")  # fmt: skip
    na = c["sodium"]
    sodium = (f"(CASE WHEN {na} < {_number(m.SODIUM_LOW_MMOL_L)} THEN {_number(m.SODIUM_LOW_MMOL_L)} "
              f"WHEN {na} > {_number(m.SODIUM_HIGH_MMOL_L)} THEN {_number(m.SODIUM_HIGH_MMOL_L)} ELSE {na} END)")  # fmt: skip
    alb_g_dl = _round12(f"({c['albumin']} * {_number(_factor(None, 'g/L', 'g/dL'))})", dialect)
    albumin = (f"(CASE WHEN {alb_g_dl} < {_number(m.ALBUMIN_LOW_G_DL)} THEN {_number(m.ALBUMIN_LOW_G_DL)} "
               f"WHEN {alb_g_dl} > {_number(m.ALBUMIN_HIGH_G_DL)} THEN {_number(m.ALBUMIN_HIGH_G_DL)} ELSE {alb_g_dl} END)")  # fmt: skip
    ln_b, ln_c = f"LN({bili})", f"LN({creat})"
    nd, ad = f"({_number(m.SODIUM_HIGH_MMOL_L)} - {sodium})", f"({_number(m.ALBUMIN_HIGH_G_DL)} - {albumin})"
    female = f"(CASE WHEN {c['sex']} = 'female' THEN 1.0 ELSE 0.0 END)"
    terms = [f"{_number(m.MELD3_COEF_FEMALE)} * {female}", f"+ {_number(m.MELD3_COEF_LN_BILIRUBIN)} * {ln_b}",
             f"+ {_number(m.MELD3_COEF_SODIUM)} * {nd}", f"- {_number(m.MELD3_COEF_SODIUM_X_LN_BILIRUBIN)} * {nd} * {ln_b}",
             f"+ {_number(m.MELD3_COEF_LN_INR)} * LN({inr})", f"+ {_number(m.MELD3_COEF_LN_CREATININE)} * {ln_c}",
             f"+ {_number(m.MELD3_COEF_ALBUMIN)} * {ad}", f"- {_number(m.MELD3_COEF_ALBUMIN_X_LN_CREATININE)} * {ad} * {ln_c}",
             f"+ {_number(m.MELD3_CONSTANT)}"]  # fmt: skip
    unrounded = terms[0]
    for term in terms[1:]:  # left to right, as Python adds them
        unrounded = f"({unrounded} {term})"
    rounded = _round_half_up(unrounded, 0, dialect)
    value = f"(CASE WHEN {rounded} > {m.MELD3_MAX} THEN {m.MELD3_MAX} ELSE {rounded} END)"
    known = f"{positive} AND {na} > 0 AND {c['albumin']} > 0 AND {c['sex']} IS NOT NULL AND {dialysis} IS NOT NULL"
    return f"(CASE WHEN {known} THEN {value} END)"


SQL_SCORES = ("meld", "meld_na", "meld_3_0")


def compile_protocol(protocol: Protocol, source: Source, dialect: str = "duckdb",
                     vocabulary: Vocabulary | None = None, time_zone: str = "UTC") -> CompiledPlan:  # fmt: skip
    """The SQL that evaluates ``protocol``'s criteria for every patient and lab day of ``source``,
    whose clock times are in ``time_zone`` (an IANA name): durations are real elapsed time,
    across a daylight-saving change too; days are the clock's."""
    if dialect not in DIALECTS:
        raise CompileError(f"dialect: one of {', '.join(DIALECTS)}, got {dialect!r}")
    if time_zone != "UTC" and dialect not in ("duckdb", "postgres"):
        raise CompileError(f"time zone {time_zone}: only DuckDB and PostgreSQL convert a clock time to an instant here; "
                           "give the cluster's times in UTC (--timezone UTC)")  # fmt: skip
    vocabulary = vocabulary or default_vocabulary()
    rules = protocol.bound_rules
    settings = protocol.screening
    all_fields = candidate_fields()
    condition_fields = tuple(dict.fromkeys(c.field for c in vocabulary.conditions))
    assumed = {a.field: a.value for a in vocabulary.assumptions}

    # what the criteria read: lab functions, scores (and their inputs), fields
    lab_calls: dict[tuple[str, str], None] = {}
    scores: dict[str, None] = {}
    for node in (n for rule in rules.values() for n in walk(rule)):
        if isinstance(node, Call) and node.func in ("latest", "daily_rise"):
            lab_calls[(node.func, node.args[0].test)] = None  # type: ignore[union-attr]
        elif isinstance(node, Call) and node.func in SCORE_FUNCTIONS:
            scores[node.func] = None

    def unavailable(path: str) -> bool:
        return path not in PERSON_FIELDS and path not in assumed

    computed_scores = []
    for score in scores:
        inputs = score_inputs(score)
        missing_fields = [f for f in inputs if f not in LAB_TESTS and unavailable(f)]
        if not missing_fields and score not in SQL_SCORES:
            raise CompileError(f"score {score}: not compiled to SQL, and every input is in the data")
        if not missing_fields:
            computed_scores.append(score)
            for fact in inputs:
                if fact in LAB_TESTS:
                    lab_calls.setdefault(("latest", fact), None)
    tests = tuple(dict.fromkeys(test for _f, test in lab_calls))
    ids = {test: i + 1 for i, test in enumerate(tests)}
    rise_tests = [t for f, t in lab_calls if f == "daily_rise"]

    # times are whole microseconds since 1970 (t), as exact as the source's timestamps
    lookback = round(settings.lookback_hours * 3_600_000_000)
    rise_min, rise_max = round(settings.daily_rise_min_hours * 3_600_000_000), round(settings.daily_rise_max_hours * 3_600_000_000)

    # -- lab rows: canonical value; what one-candidate screening refuses is dropped ----------
    # (a unit the test does not take, an impossible value); as core.labs.to_canonical, a
    # converted value is the product rounded to 12 significant digits
    raw_lab = source.raw_lab(tests, vocabulary)
    converted = _round12("(r.value * u.factor)", dialect)
    # units are few: each distinct spelling is read once (stripping a string per row is slow)
    rows = f"(SELECT * FROM ({raw_lab}) AS raw {_PERSONS_MARK})"
    spellings = (f"SELECT d.test_id, d.raw_unit, u.factor, u.low, u.high FROM (SELECT DISTINCT test_id, "
                 f"COALESCE(unit, '') AS raw_unit FROM {rows} AS r) AS d JOIN ({_unit_table(tests)}) AS u "
                 f"ON u.test_id = d.test_id AND u.unit = {_unit_key('d.raw_unit')}")  # fmt: skip
    lab = (f"SELECT person_id, test_id, taken_at, value FROM (SELECT r.person_id, r.test_id, r.taken_at, "
           f"CASE WHEN u.factor = 1.0 THEN r.value ELSE {converted} END AS value, u.low, u.high "
           f"FROM {rows} AS r JOIN ({spellings}) AS u ON u.test_id = r.test_id AND u.raw_unit = COALESCE(r.unit, '')) AS l "
           f"WHERE l.value BETWEEN l.low AND l.high{_barrier(dialect)}")  # fmt: skip
    # -- one row per patient and draw time ------------------------------------------------
    # a test reported twice at one time with two values: which is right cannot be told, so
    # neither counts (the candidate file refuses it the same way)
    pivot = ", ".join(
        f"CASE WHEN MIN(value) FILTER (WHERE test_id = {k}) = MAX(value) FILTER (WHERE test_id = {k}) "
        f"THEN MAX(value) FILTER (WHERE test_id = {k}) END AS v{k}"
        for k in (ids[t] for t in tests)
    )
    instant = _instant_us("taken_at", time_zone, dialect)
    if dialect == "duckdb" and time_zone == "UTC":  # grouping by a number is faster than by a timestamp
        series = (f"SELECT person_id, MAKE_TIMESTAMP(t) AS taken_at, t, {pivot} "
                  f"FROM (SELECT *, {instant} AS t FROM ({lab}) AS lab) AS lab GROUP BY person_id, t")  # fmt: skip
    else:
        series = (f"SELECT person_id, taken_at, {instant} AS t, {pivot} "
                  f"FROM ({lab}) AS lab GROUP BY person_id, taken_at")  # fmt: skip
    # -- the previous result of a rising test (per draw) ---------------------------------------
    rise_window = f"(PARTITION BY person_id ORDER BY t ASC NULLS FIRST RANGE BETWEEN {rise_max} PRECEDING AND {rise_min} PRECEDING)"
    level1 = ["*"]
    for test in rise_tests:
        k = ids[test]
        prev_v = _last_nonnull(f"v{k}", rise_window, dialect)
        prev_t = f"MAX(CASE WHEN v{k} IS NOT NULL THEN t END) OVER {rise_window}"
        level1 += [f"{prev_v} AS p{k}", f"{prev_t} AS pt{k}"]
    rises = "SELECT " + ", ".join(level1) + f" FROM ({series}) AS series"
    # -- each test's latest result carried forward; the last draw of each day -------------------
    carry = "(PARTITION BY person_id ORDER BY t ASC NULLS FIRST ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    level2 = ["person_id", "taken_at", "t"]
    for test in tests:
        k = ids[test]
        level2 += [f"{_last_nonnull(f'v{k}', carry, dialect)} AS l{k}",
                   f"MAX(CASE WHEN v{k} IS NOT NULL THEN t END) OVER {carry} AS lt{k}",
                   f"MAX(CASE WHEN v{k} IS NOT NULL THEN taken_at END) OVER {carry} AS la{k}"]  # fmt: skip
        if test in rise_tests:
            hours = f"(CAST(t - pt{k} AS DOUBLE) / 1000000.0 / 3600.0)"
            rise = _round12(f"((v{k} - p{k}) / {hours} * 24)", dialect)
            marked = f"CASE WHEN v{k} IS NOT NULL THEN COALESCE({rise}, {_NO_RISE!r}) END"
            level2.append(f"{_last_nonnull(marked, carry, dialect)} AS r{k}")
    level2.append("LEAD(taken_at) OVER (PARTITION BY person_id ORDER BY t ASC NULLS FIRST) AS next_taken_at")
    level2.append("FALSE AS needs_more")
    carried_exact = "SELECT " + ", ".join(level2) + f" FROM ({rises}) AS rises"
    carried_fast = (_carried_by_lags(series, tests, ids, rise_tests, rise_min, rise_max, time_zone)
                    if dialect == "duckdb" else carried_exact)  # fmt: skip
    carried = _CARRIED

    # -- facts at each lab day (its last draw) ------------------------------------------------
    last_draw = ("SELECT *, CAST(taken_at AS DATE) AS day, EXTRACT(YEAR FROM taken_at) * 10000 + EXTRACT(MONTH FROM taken_at) * 100 "
                 f"+ EXTRACT(DAY FROM taken_at) AS ymd FROM ({carried}) AS carried "
                 "WHERE next_taken_at IS NULL OR CAST(next_taken_at AS DATE) <> CAST(taken_at AS DATE)")  # fmt: skip
    fresh = {t: f"s.t - s.lt{ids[t]} <= {lookback}" for t in tests}
    facts = ["s.person_id AS person_id", "s.taken_at AS taken_at", "s.t AS t", "s.needs_more AS needs_more"]
    values: list[ValueColumn] = []
    for test in tests:
        k = ids[test]
        canonical = LAB_TESTS[test].canonical_unit
        facts.append(f"CASE WHEN {fresh[test]} THEN s.l{k} END AS {_col('latest', test)}")
        facts.append(f"CASE WHEN {fresh[test]} THEN s.la{k} END AS {_col('latest_at', test)}")
        values.append(ValueColumn(_col("latest", test), f"latest {test}", canonical))
        values.append(ValueColumn(_col("latest_at", test), f"when the latest {test} was drawn"))
        if test in rise_tests:
            facts.append(f"CASE WHEN {fresh[test]} THEN NULLIF(s.r{k}, {_NO_RISE!r}) END AS {_col('rise', test)}")
            values.append(ValueColumn(_col("rise", test), f"daily rise of {test}", f"{canonical} per 24 h"))
    # completed years: (YYYYMMDD of the day - YYYYMMDD of birth) / 10000, rounded down
    age = "FLOOR((s.ymd - p.birth_ymd) / 10000.0)"
    facts.append(f"CAST(CASE WHEN {age} BETWEEN 0 AND 120 THEN {age} END AS INTEGER) AS f__age")
    facts.append("p.sex AS f__sex")
    values += [ValueColumn("f__age", "age at the lab day (completed years)"), ValueColumn("f__sex", "sex")]
    condition_sql = source.condition(vocabulary)
    condition_join = ""
    if condition_sql:
        firsts = ", ".join(f"MIN(start_date) FILTER (WHERE field = {quote(f)}) AS {_col('first', f)}" for f in condition_fields)
        condition_join = (f" LEFT JOIN (SELECT person_id, {firsts} FROM ({condition_sql}) AS cond GROUP BY person_id) AS c "
                          f"ON c.person_id = s.person_id")  # fmt: skip
        for f in condition_fields:
            facts.append(f"CASE WHEN c.{_col('first', f)} <= s.day THEN TRUE END AS {_col('f', f)}")
            values.append(ValueColumn(_col("f", f), f"{f} (a diagnosis on or before the lab day)"))
    person_sql = source.person()
    # one row per patient; a patient listed twice with two birth dates (or sexes) has neither
    ymd = ("CASE WHEN birth_year IS NOT NULL AND birth_month IS NOT NULL AND birth_day IS NOT NULL "
           "THEN birth_year * 10000 + birth_month * 100 + birth_day END")  # fmt: skip
    birth = (f"SELECT person_id, CASE WHEN COUNT(sex) = COUNT(*) AND MIN(sex) = MAX(sex) THEN MIN(sex) END AS sex, "
             f"CASE WHEN COUNT(ymd) = COUNT(*) AND MIN(ymd) = MAX(ymd) THEN MIN(ymd) END AS birth_ymd "
             f"FROM (SELECT person_id, sex, {ymd} AS ymd FROM ({person_sql}) AS p) AS person GROUP BY person_id")  # fmt: skip
    fact_sql = (f"SELECT {', '.join(facts)} FROM ({last_draw}) AS s LEFT JOIN ({birth}) AS p ON p.person_id = s.person_id"
                f"{condition_join}{_barrier(dialect)}")  # fmt: skip

    # -- fields, scores, criteria -----------------------------------------------------------------
    type_sql = {"bool": "BOOLEAN", "number": "DOUBLE", "string": "VARCHAR"}
    field_sql: dict[str, str] = {}
    for path, type_ in all_fields.items():
        if path in PERSON_FIELDS:
            field_sql[path] = f"f__{path}"
        elif path in condition_fields and condition_sql:
            field_sql[path] = _col("f", path)
        elif path in assumed:
            field_sql[path] = "TRUE" if assumed[path] else "FALSE"
        else:
            field_sql[path] = f"CAST(NULL AS {type_sql[type_.kind]})"
    score_facts = {**{t: _col("latest", t) for t in tests}, **field_sql}
    score_exprs = {
        score: _score_sql(score, score_facts, dialect) if score in computed_scores else "CAST(NULL AS DOUBLE)"
        for score in scores
    }
    for score in scores:
        values.append(ValueColumn(_col("score", score), SCORE_FUNCTIONS[score]))

    plans = []
    for kind, criterion in protocol.all_criteria():
        rule = rules[criterion.id]
        read = {n.path for n in walk(rule) if isinstance(n, Field)}
        read |= {f for n in walk(rule) if isinstance(n, Call) and n.func in SCORE_FUNCTIONS
                 for f in score_inputs(n.func) if f not in LAB_TESTS}  # fmt: skip
        clinician = tuple(sorted(f for f in read if unavailable(f)))
        plans.append(CriterionPlan(criterion.id, kind, criterion.text, _col("c", criterion.id), clinician))
    columns = [plan.column for plan in plans]
    if len(set(columns)) != len(columns):
        raise CompileError("criteria ids that differ only in case or punctuation (I1a, I1A, I1.a) "
                           "would share a SQL column: " + ", ".join(p.id for p in plans))  # fmt: skip

    def criterion_sql(plan: CriterionPlan, scores_as: dict[str, str]) -> str:
        try:
            return RuleSQL(field_sql, scores_as, protocol.id)(rules[plan.id])
        except CompileError as err:
            raise CompileError(f"criterion {plan.id}: {err}") from None

    def passes(plan: CriterionPlan, status: str) -> str:
        if plan.to_check:  # passes unless the data excludes
            return f"COALESCE({status}, TRUE)" if plan.kind == "inclusion" else f"NOT COALESCE({status}, FALSE)"
        # the data must decide it
        return f"COALESCE({status}, FALSE)" if plan.kind == "inclusion" else f"NOT COALESCE({status}, TRUE)"

    def depth(statuses: list[str]) -> str:
        # CASE stops at the first criterion a lab day fails: later criteria (and their
        # scores) are computed only for the days that reach them
        arms = " ".join(f"WHEN NOT ({passes(plan, st)}) THEN {i}" for i, (plan, st) in enumerate(zip(plans, statuses)))
        return f"CASE {arms} ELSE {len(plans)} END"

    n = len(plans)
    # every status (candidates, every lab day)
    score_cols = "".join(f", {expr} AS {_col('score', name)}" for name, expr in score_exprs.items())
    scored = f"SELECT *{score_cols} FROM ({fact_sql}) AS facts"
    as_columns = {name: _col("score", name) for name in scores}
    criteria_cols = ", ".join(f"{criterion_sql(plan, as_columns)} AS {plan.column}" for plan in plans)
    evaluated = f"SELECT *, {criteria_cols} FROM ({scored}) AS scored"
    days = f"SELECT *, {depth([p.column for p in plans])} AS depth FROM ({evaluated}) AS evaluated"
    days = f"SELECT *, depth = {n} AS candidate FROM ({days}) AS staged"
    # the depth alone, each criterion evaluated only where the earlier ones pass (the funnel)
    lazy = depth([criterion_sql(plan, score_exprs) for plan in plans])
    depth_sql = (f"SELECT person_id, t, needs_more, depth, depth = {n} AS candidate FROM "
                 f"(SELECT person_id, t, needs_more, {lazy} AS depth FROM ({fact_sql}) AS facts) AS d")  # fmt: skip

    return CompiledPlan(
        protocol_id=protocol.id,
        dialect=dialect,
        tests=tests,
        criteria=tuple(plans),
        values=tuple(values),
        days_sql=days.replace(_CARRIED, carried_fast),
        depth_sql=depth_sql.replace(_CARRIED, carried_fast),
        exact_days_sql=days.replace(_CARRIED, carried_exact),
        exact_depth_sql=depth_sql.replace(_CARRIED, carried_exact),
        person_sql=person_sql,
        raw_lab_sql=raw_lab,
        condition_sql=condition_sql,
        instant_sql=instant,
        assumptions=tuple((a.field, a.value, a.why) for a in vocabulary.assumptions),
        stages=(("lab", lab), ("series", series), ("rises", rises), ("carried", carried_exact), ("lags", carried_fast),
                ("facts", fact_sql.replace(_CARRIED, carried_fast)), ("depth", depth_sql.replace(_CARRIED, carried_fast)),
                ("scored", scored.replace(_CARRIED, carried_fast)), ("days", days.replace(_CARRIED, carried_fast))),
    )
