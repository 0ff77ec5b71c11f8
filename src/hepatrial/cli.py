"""The ``hepatrial`` command.

Exit codes of ``screen``: 0 eligible, 1 not eligible, 3 incomplete, 2 bad input.
Every command that reads a file exits 2 on bad input, naming the field and the problem.
An unexpected failure exits 4 (never 1, which a script would read as "not eligible").
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, NoReturn

import click

from hepatrial import __version__
from hepatrial.core.candidate import Candidate, ScreeningInputError, load_candidate
from hepatrial.core.protocol import (
    Protocol,
    ProtocolError,
    display_number,
    load_protocol,
    load_protocol_file,
)
from hepatrial.core.scores.panel import SCORE_LABELS
from hepatrial.core.screening import candidate_scores, screen

EXIT_BY_VERDICT = {"eligible": 0, "not_eligible": 1, "incomplete": 3}
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 4

PROTOCOL_OPTION = click.option(
    "--protocol",
    "protocol_ref",
    metavar="ID|FILE",
    default=None,
    envvar="HEPATRIAL_PROTOCOL",
    help="A packaged protocol id (e.g. NCT05940610) or a protocol YAML file. "
    "Default: $HEPATRIAL_PROTOCOL, else the packaged protocol.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _fail(problems: list[dict[str, Any]], heading: str, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": heading, "problems": problems}, indent=2, ensure_ascii=False))
    else:
        click.echo(f"error: {heading}", err=True)
        for p in problems:
            where = f"line {p['line']}: " if p.get("line") else ""
            click.echo(f"  {where}{p['field']}: {p['problem']}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _protocol(ref: str | None, as_json: bool = False) -> Protocol:
    try:
        return load_protocol(ref)
    except ProtocolError as err:
        _fail(_protocol_problems(err), f"bad protocol {err.source}", as_json)


def _protocol_problems(err: ProtocolError) -> list[dict[str, Any]]:
    return [{"field": path, "line": line, "problem": reason} for path, line, reason in err.problems]


def _candidate(path: str, as_json: bool) -> Candidate:
    try:
        return load_candidate(path)
    except ScreeningInputError as err:
        _fail([{"field": f, "problem": r} for f, r in err.problems], f"bad candidate file {path}", as_json)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _wrap(text: str, indent: int, width: int = 100) -> str:
    return textwrap.fill(text, width=width, initial_indent=" " * indent, subsequent_indent=" " * indent)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hepatrial")
def main() -> None:
    """hepatrial: run a liver-failure trial from screening to the final report."""


# --- screen ----------------------------------------------------------------------------------
@main.command("screen")
@click.argument("candidate_file")
@PROTOCOL_OPTION
@JSON_OPTION
def screen_command(candidate_file: str, protocol_ref: str | None, as_json: bool) -> None:
    """Screen one candidate (a JSON file) against the protocol's criteria.

    Exit code: 0 eligible, 1 not eligible, 3 incomplete, 2 bad input.
    """
    protocol = _protocol(protocol_ref, as_json)
    candidate = _candidate(candidate_file, as_json)
    result = screen(candidate, protocol)
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(f"{protocol.id}: candidate {candidate.id}, assessed {result.assessed_at}")
        click.echo(f"Verdict: {result.verdict.upper().replace('_', ' ')} ({result.explanation})\n")
        for c in result.criteria:
            mark = c.status.replace("_", " ")
            flag = "  <- EXCLUDES" if c.excludes else ""
            click.echo(f"{c.id:<4}{c.kind:<10} {mark:<8}{flag}".rstrip())
            click.echo(_wrap(textwrap.shorten(c.text, 160), 4))
            click.echo(_wrap(f"-> {c.reason}", 4))
        click.echo("\nScores:")
        _print_scores(result.scores)
    sys.exit(EXIT_BY_VERDICT[result.verdict])


def _print_scores(scores) -> None:
    for name, outcome in scores.items():
        label = SCORE_LABELS[name]
        if outcome.value is not None:
            extra = ""
            for key in ("child_class", "grade"):
                if key in outcome.details:
                    extra = f" ({key.replace('_', ' ')} {outcome.details[key]})"
            caveat = " (unconfirmed: see docs/scores.md)" if outcome.caveat else ""
            click.echo(f"  {label:<22}{outcome.value}{extra}{caveat}")
        else:
            why = outcome.error or "missing " + ", ".join(outcome.missing)
            click.echo(f"  {label:<22}- ({why})")


# --- scores ----------------------------------------------------------------------------------
@main.command("scores")
@click.argument("candidate_file")
@PROTOCOL_OPTION
@JSON_OPTION
def scores_command(candidate_file: str, protocol_ref: str | None, as_json: bool) -> None:
    """Every liver score computable from a candidate file, and what the others miss.

    The latest results are read with the protocol's screening settings (lookback).
    """
    protocol = _protocol(protocol_ref, as_json)
    candidate = _candidate(candidate_file, as_json)
    scores = candidate_scores(candidate, settings=protocol.screening)
    if as_json:
        _echo_json({name: s.to_dict() for name, s in scores.items()})
    else:
        click.echo(f"Scores for candidate {candidate.id} at {candidate.assessed_at.isoformat()}:")
        _print_scores(scores)


# --- schema -----------------------------------------------------------------------------------
@main.command("schema")
@click.argument("what", type=click.Choice(["candidate", "protocol"]))
def schema_command(what: str) -> None:
    """Print the JSON Schema of the candidate file (or of a protocol file)."""
    model = Candidate if what == "candidate" else Protocol
    _echo_json(model.model_json_schema())


# --- protocol ---------------------------------------------------------------------------------
@main.group("protocol")
def protocol_group() -> None:
    """Show or check a protocol file."""


@protocol_group.command("check")
@click.argument("protocol_file")
@JSON_OPTION
def protocol_check(protocol_file: str, as_json: bool) -> None:
    """Validate a protocol file: each error names the YAML path, line and reason (exit 2)."""
    try:
        protocol = load_protocol_file(protocol_file)
    except ProtocolError as err:
        _fail(_protocol_problems(err), f"{protocol_file}: {len(err.problems)} problem(s)", as_json)
    n = len(protocol.all_criteria())
    if as_json:
        _echo_json({"ok": True, "protocol": protocol.id, "criteria": n})
    else:
        click.echo(f"OK: {protocol_file} is protocol {protocol.id} with {n} criteria, every rule checked.")


@protocol_group.command("show")
@PROTOCOL_OPTION
@JSON_OPTION
def protocol_show(protocol_ref: str | None, as_json: bool) -> None:
    """Print the protocol readably."""
    protocol = _protocol(protocol_ref, as_json)
    if as_json:
        _echo_json(protocol.model_dump(mode="json"))
        return
    for line in render_protocol(protocol):
        click.echo(line)


def render_protocol(p: Protocol) -> list[str]:
    out = [
        f"{p.id}: {p.title}",
        f"  {p.identifiers.org_study_id or ''}".rstrip(),
        f"  Sponsor: {p.sponsor.name}" + (f" ({p.sponsor.site})" if p.sponsor.site else ""),
        f"  {', '.join(p.phases)} · {p.study_type} · status {p.status}",
        f"  Conditions: {', '.join(p.conditions)}",
        f"  Design: {p.design.allocation}, {p.design.intervention_model}, masking {p.design.masking}, "
        f"purpose {p.design.primary_purpose}",
        f"  Eligible: {p.eligibility.sex}, {p.eligibility.min_age_years:g}-{p.eligibility.max_age_years:g} years"
        + ("" if p.design.healthy_volunteers else ", no healthy volunteers"),
        f"  Enrollment: {p.enrollment.planned_total} planned"
        + (f", {p.enrollment.actual} actual" if p.enrollment.actual is not None else ""),
        "",
        "Arms",
    ]
    for arm in p.arms:
        out.append(f"  {arm.label} [{arm.id}] ({arm.type}), {arm.planned_enrollment} planned")
        out.append(_wrap(arm.description, 6))
        for ref in arm.interventions:
            iv = p.intervention(ref)
            line = f"    - {iv.name}"
            if iv.dose:
                dose = f"{display_number(iv.dose.particles)} particles in " if iv.dose.particles else ""
                line += f": {dose}{iv.dose.volume_ml:g} ml of {iv.dose.product}"
            if iv.route:
                line += f", {iv.route}"
            if iv.schedule:
                days = ", ".join(str(d) for d in iv.schedule.days)
                line += f", {iv.schedule.description}: days {days}"
            if iv.setting:
                line += f", {iv.setting}"
            out.append(line)
    if p.standard_medical_treatment:
        out += ["", "Standard medical treatment"]
        out += [f"  - {c.text}" for c in p.standard_medical_treatment]
    out += ["", "Parameters (the registry text's ambiguities resolved, and settings)"]
    for name, param in p.parameters.items():
        out.append(f"  {name} = {param.display}")
        out.append(_wrap(param.rationale, 6))
        for quote in param.registry_says:
            out.append(_wrap(f'page: "{quote}"', 6))
    if p.randomization is not None:
        r = p.randomization
        out += ["", "Randomization"]
        out.append(f"  arms {' : '.join(r.arms)} in ratio {' : '.join(str(x) for x in r.ratio)}, "
                   f"stratified by {r.stratify_by} ({', '.join(r.strata)}), per site")  # fmt: skip
        out.append(f"  permuted blocks of sizes {', '.join(str(b) for b in r.block_sizes)} (mixed at random), "
                   f"{r.slots_per_stratum} slots per site and stratum")  # fmt: skip
    out += ["", "Screening settings"]
    out += [f"  {name} = {value:g}" for name, value in p.screening.model_dump().items()]
    if p.definitions:
        out += ["", "Definitions"]
        for name, d in p.definitions.items():
            out.append(f"  {name}: {d.text or ''}".rstrip())
            out.append(_wrap(f"rule: {d.rule}", 6))
    for kind in ("inclusion", "exclusion"):
        out += ["", f"{kind.capitalize()} criteria"]
        for c in getattr(p.criteria, kind):
            out.append(f"  {c.id}  {c.text}" if len(c.text) < 90 else f"  {c.id}")
            if len(c.text) >= 90:
                out.append(_wrap(c.text, 6))
            out.append(_wrap(f"rule: {c.rule}", 6))
            if c.note:
                out.append(_wrap(f"note: {c.note}", 6))
    return out


# --- serve ---------------------------------------------------------------------------------------
def _staff_user(username: str, option: str):
    """The active user named ``username`` (exit 2 naming ``option`` if there is none)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        _fail([{"field": option, "problem": f"no active user {username!r}"}], "bad user", False)
    return user


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hepatrial.web.settings")
    import django

    django.setup()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32), help="Worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="Threads of each worker process.")
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Run the web app: migrate the database, create the demo site on a new one, serve.

    The database is SQLite in $HEPATRIAL_HOME (default ./hepatrial-data), or
    PostgreSQL with HEPATRIAL_DATABASE_URL=postgresql://... . Served by
    gunicorn (a production WSGI server; worker processes, each with threads),
    static files included.
    """
    _django_setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from hepatrial.services.accounts import ensure_demo
    from hepatrial.services.protocol import current_protocol

    protocol = _protocol(settings.HEPATRIAL_PROTOCOL)
    current_protocol()  # the app's own handle on it, checked once at start-up
    call_command("migrate", interactive=False, verbosity=0)
    call_command("check", databases=["default"], fail_level="ERROR")  # incl. the allocation list's digest
    call_command("collectstatic", interactive=False, verbosity=0)
    click.echo(f"hepatrial {__version__}: protocol {protocol.id}, database {_database_description()}")
    created = ensure_demo()
    if created:
        click.echo("\nA new database: created the demo site SYSU3 and one user per role.")
        click.echo("These passwords are shown ONCE; note them now.\n")
        for username, role, password in created:
            click.echo(f"  {username:<14} {role:<14} {password}")
        if settings.HEPATRIAL_TWO_FACTOR_ROLES:
            click.echo(f"\n{' and '.join(settings.HEPATRIAL_TWO_FACTOR_ROLES)} also give a code from an authenticator app "
                       "(set up at the first sign-in).")  # fmt: skip
        click.echo("")
        _demo_allocation_list(protocol, Path(settings.HOME))
    from hepatrial.web.server import Server
    from hepatrial.web.wsgi import (
        application,  # after collectstatic: whitenoise indexes the files at start
    )

    connections.close_all()  # the workers are forked from this process: none may share its connection
    url = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}/"
    click.echo(f"Serving on {url} with {workers} worker process{'es' if workers != 1 else ''} of {threads} "
               f"thread{'s' if threads != 1 else ''}  (Ctrl+C to stop)")  # fmt: skip
    Server(application, host=host, port=port, workers=workers, threads=threads).run()


def _demo_allocation_list(protocol, home: Path, seed: int | None = None) -> None:
    """On a new demo database: an allocation list from a random seed (or ``seed``: the
    simulated demo trial's, so that it is reproducible), imported, so that randomization
    and dosing can be tried. A real trial imports the statistician's list into an empty
    database instead (docs/randomization.md)."""
    import secrets

    from django.contrib.auth import get_user_model

    from hepatrial.core.randomization import make_list, write_list
    from hepatrial.services.access import Actor
    from hepatrial.services.accounts import DEMO_SITE
    from hepatrial.services.randomization import do_import_list

    if protocol.randomization is None:
        return
    from hepatrial.services.demo_trial import DEMO_LIST_FILE

    path = home / DEMO_LIST_FILE
    which = "random seed" if seed is None else f"seed {seed}"
    seed = secrets.randbits(63) if seed is None else seed
    write_list(make_list(protocol.randomization, sites=[DEMO_SITE["code"]], seed=seed, protocol_id=protocol.id), path)
    statistician = get_user_model().objects.get(staff__role="statistician")
    imported = do_import_list(Actor(statistician, route="system"), path)
    click.echo(f"A demo allocation list ({which}, {imported.rows} slots) is imported so randomization can be tried:")
    click.echo(f"  {path}  (sha256 {imported.digest[:16]}...). For the real trial, start from an empty database")
    click.echo("  and import the statistician's list (hepatrial randomization import).\n")


@main.command("demo-trial")
@click.option("--subjects", default=20, show_default=True, type=click.IntRange(2, 20),
              help="Subjects to randomize (the trial's 20 at most: the demo list has 20 slots per stratum).")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the simulation and, on a new database, of its allocation list: the same seed, the same trial.")
def demo_trial_command(subjects: int, seed: int) -> None:
    """Fill a new demo database with a simulated trial (every record made by the site's
    own actions, the clock moved to each day), to try the pages and `hepatrial analyze`.

    Refuses any database but a fresh demo one (see docs/demo.md). SIMULATED DATA.
    """
    _django_setup()
    from django.conf import settings
    from django.core.management import call_command

    from hepatrial.services.accounts import ensure_demo
    from hepatrial.services.demo_trial import (
        NotADemoDatabase,
        check_demo_database,
        simulate_demo_trial,
    )
    from hepatrial.services.errors import ActionError

    protocol = _protocol(settings.HEPATRIAL_PROTOCOL)
    call_command("migrate", interactive=False, verbosity=0)
    created = ensure_demo()
    if created:
        click.echo("A new database: created the demo site SYSU3 and one user per role (passwords shown ONCE):")
        for username, role, password in created:
            click.echo(f"  {username:<14} {role:<14} {password}")
        _demo_allocation_list(protocol, Path(settings.HOME), seed=seed)  # the same seed, the same list: the same trial
    # the simulated safety alerts are kept in memory, not e-mailed (they stay listed on the safety pages)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    try:
        check_demo_database()
    except NotADemoDatabase as err:
        _fail([{"field": "(database)", "problem": str(err)}], "not a fresh demo database", False)
    try:
        with click.progressbar(length=subjects, label="Simulating", show_pos=True) as bar:
            summary = simulate_demo_trial(subjects, seed, progress=lambda _text: bar.update(1))
    except ActionError as err:  # a simulated action refused: a bug of the simulation; its transaction is rolled back
        _fail([{"field": "(simulation)", "problem": f"{err} (nothing was written; please report it with the seed)"}],
              "the simulation failed", False)  # fmt: skip
    click.echo(f"SIMULATED DATA: {summary.screened} screened, {summary.enrolled} enrolled, {summary.randomized} randomized, "
               f"{summary.forms} forms, {summary.adverse_events} adverse events, {summary.deaths} death(s).")  # fmt: skip
    click.echo("Now: `hepatrial serve` to browse it, `hepatrial analyze --out report/` for the analysis report.")


@main.group("prescreen")
def prescreen_group() -> None:
    """Pre-screening a hospital's data (OMOP CDM) for the protocol's candidates."""


@prescreen_group.command("synth")
@click.option("--persons", required=True, type=click.IntRange(1, 10_000_000), help="How many persons.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write the extract into.")
@click.option("--seed", default=1, show_default=True, type=int, help="The same seed, persons and end: the same extract.")
@click.option("--end", "end_date", default=None, metavar="YYYY-MM-DD", help="The last day of data (default: today).")
@click.option("--format", "fmt", default="parquet", show_default=True, type=click.Choice(["parquet", "csv"]))
def prescreen_synth(persons: int, out_dir: str, seed: int, end_date: str | None, fmt: str) -> None:
    """Write a seeded synthetic OMOP CDM v5.4 extract (person, measurement, condition_occurrence,
    observation, concept) with liver-failure episodes in a small share, and synth_truth.csv
    listing them. Invented data for demos, tests and benchmarks (docs/prescreen.md)."""
    from datetime import date

    from hepatrial.core.prescreen.synth import synthesize, write_extract

    try:
        end = date.fromisoformat(end_date) if end_date else None
    except ValueError:
        _fail([{"field": "--end", "problem": f"{end_date!r} is not a date (YYYY-MM-DD)"}], "bad --end", False)
    with click.progressbar(length=persons, label="Persons", show_pos=True) as bar:
        extract = synthesize(persons, seed=seed, end=end, progress=bar.update)
    paths = write_extract(extract, out_dir, fmt)
    click.echo(f"{persons} persons, {extract.tables['measurement'].num_rows} measurements, "
               f"{extract.truth.num_rows} seeded episodes: {', '.join(p.name for p in paths)} in {out_dir}")  # fmt: skip


@prescreen_group.command("run")
@click.argument("source_dir", required=False)
@PROTOCOL_OPTION
@click.option("--database", default=None, metavar="URL|FILE",
              help="Run on PostgreSQL (postgresql://...) where the source tables are, or a DuckDB file. Default: DuckDB in memory.")  # fmt: skip
@click.option("--schema", default=None, help="With --database: the schema holding the source tables.")
@click.option("--source-kind", default="omop", show_default=True, type=click.Choice(["omop", "flat"]),
              help="With --database or --print-sql: OMOP tables (person, measurement ...) or a flat lab table (labs, patients).")  # fmt: skip
@click.option("--timezone", "tz_name", default="UTC", show_default=True,
              help="The time zone of the source's clock times (IANA name, e.g. Asia/Shanghai): durations are real elapsed time in it.")  # fmt: skip
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help="Write candidates and funnel here.")
@click.option("--format", "fmt", default="csv", show_default=True, type=click.Choice(["csv", "parquet", "json"]))
@click.option("--days", "write_days_too", is_flag=True,
              help="With --out (csv or parquet): also write days.*, every patient and lab day with each criterion's status.")  # fmt: skip
@click.option("--explain", "explain", default=5, show_default=True, type=click.IntRange(0),
              help="Print this many candidates with the reason for every criterion.")  # fmt: skip
@click.option("--print-sql", is_flag=True, help="Print the compiled SQL for --dialect and stop (nothing is run).")
@click.option("--dialect", default="duckdb", show_default=True, type=click.Choice(["duckdb", "postgres", "spark", "trino", "bigquery"]))
@JSON_OPTION
def prescreen_run(source_dir: str | None, protocol_ref: str | None, database: str | None, schema: str | None,
                  source_kind: str, tz_name: str, out_dir: str | None, fmt: str, write_days_too: bool, explain: int,
                  print_sql: bool, dialect: str, as_json: bool) -> None:  # fmt: skip
    """Pre-screen a population: the protocol's criteria, compiled to SQL, for every patient and
    lab day of an OMOP CDM extract or a flat lab table (a folder of Parquet/CSV files, or
    tables in a database). Prints the funnel and the candidates, each explained criterion by
    criterion (docs/prescreen.md)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from hepatrial.core.criteria.sql import CompileError
    from hepatrial.core.prescreen.compile import compile_protocol
    from hepatrial.core.prescreen.sources import Source, SourceError
    from hepatrial.prescreen.engine import EngineError, run_prescreen, write_days
    from hepatrial.prescreen.output import (
        explain_text,
        funnel_text,
        result_json,
        write_result,
    )

    protocol = _protocol(protocol_ref, as_json)
    if write_days_too and (not out_dir or fmt == "json" or database):
        _fail([{"field": "--days", "problem": "needs --out with --format csv or parquet, on DuckDB"}], "bad --days", as_json)
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        _fail([{"field": "--timezone", "problem": f"{tz_name!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)"}], "bad --timezone", as_json)
    if source_dir and print_sql and dialect != "duckdb":
        _fail([{"field": "SOURCE_DIR", "problem": f"a folder's files are read by DuckDB only; for --dialect {dialect} "
                                                  "leave it out and name the tables' schema with --schema"}], "bad source", as_json)  # fmt: skip
    try:
        if source_dir:
            source = Source.folder(source_dir)
        elif database or print_sql:
            source = Source.database(source_kind, schema)
        else:
            _fail([{"field": "SOURCE_DIR", "problem": "give a folder of Parquet/CSV files, or --database"}], "no source", as_json)
        if print_sql:
            plan = compile_protocol(protocol, source, dialect, time_zone="UTC" if tz_name in ("UTC", "Etc/UTC") else tz_name)
            click.echo(plan.script())
            return
        bar_state = {"done": 0}
        with click.progressbar(length=100, label="Pre-screening", file=sys.stderr, show_percent=True) as bar:
            def progress(percent: float) -> None:
                step = int(percent) - bar_state["done"]
                if step > 0:
                    bar.update(step)
                    bar_state["done"] += step

            result = run_prescreen(protocol, source, database=database, tz=tz, progress=progress)
    except SourceError as err:
        _fail([{"field": err.where, "problem": err.problem}], "bad source", as_json)
    except (EngineError, CompileError) as err:
        _fail([{"field": "--database" if database else "SOURCE_DIR", "problem": str(err)}], "pre-screening failed", as_json)
    written = write_result(result, out_dir, fmt) if out_dir else []
    if write_days_too:
        days_path = Path(out_dir) / f"days.{fmt}"
        try:
            write_days(protocol, source, str(days_path), fmt, tz=tz)
        except (EngineError, CompileError) as err:
            _fail([{"field": "--days", "problem": str(err)}], "pre-screening failed", as_json)
        written.append(days_path)
    if as_json:
        _echo_json({**result_json(result), "written": [str(p) for p in written]})
        return
    click.echo(f"{result.protocol_id} on {result.source} ({result.engine}, {result.seconds:.1f} s)")
    click.echo("Funnel (patients with a lab day passing every criterion up to this one):")
    for line in funnel_text(result):
        click.echo(line)
    for field, value, why in result.plan.assumptions:
        click.echo(f"Assumed {field} = {str(value).lower()}: {why}")
    click.echo(f"{len(result.candidates)} candidates.")
    for candidate in result.candidates[:explain]:
        click.echo("")
        for line in explain_text(result, candidate):
            click.echo(line)
    disagreeing = sum(1 for c in result.candidates if c.disagreements)
    if disagreeing:
        click.echo(f"warning: {disagreeing} candidates where the SQL and the one-candidate screening disagree", err=True)
    if written:
        click.echo("Wrote " + ", ".join(str(p) for p in written))


@main.command("import-forms")
@click.argument("rows_file")
@click.option("--as", "username", required=True, help="The staff user the import is done as (audited).")
@JSON_OPTION
def import_forms_command(rows_file: str, username: str, as_json: bool) -> None:
    """Import eCRF data: a JSON list of {subject_id, visit_id, form_id, visit_date, values, reason}.

    Each row is saved like a web form (same checks, same audit, route "import");
    a bad row is reported and skipped. Exit 0 if every row saved, 2 otherwise.
    """
    _django_setup()

    from hepatrial.core.candidate import ScreeningInputError, parse_json
    from hepatrial.services.access import Actor
    from hepatrial.services.importer import import_rows

    user = _staff_user(username, "--as")
    try:
        rows = parse_json(open(rows_file, encoding="utf-8").read())
    except OSError as err:
        _fail([{"field": "(file)", "problem": f"cannot read: {err.strerror}"}], f"bad import file {rows_file}", as_json)
    except ScreeningInputError as err:
        _fail([{"field": f, "problem": r} for f, r in err.problems], f"bad import file {rows_file}", as_json)
    if not isinstance(rows, list):
        _fail([{"field": "(file)", "problem": "a JSON list of rows"}], f"bad import file {rows_file}", as_json)
    results = import_rows(Actor(user, route="import"), rows)
    if as_json:
        _echo_json([{"row": r.row, "ok": r.ok, "message": r.message, "errors": r.errors} for r in results])
    else:
        for r in results:
            click.echo(f"row {r.row}: {'ok' if r.ok else 'REFUSED'}: {r.message}")
            for field, messages in r.errors.items():
                for message in messages:
                    click.echo(f"    {field}: {message}")
        saved = sum(r.ok for r in results)
        click.echo(f"{saved} of {len(results)} rows saved")
    sys.exit(0 if all(r.ok for r in results) else EXIT_BAD_INPUT)


@main.command("token")
@click.argument("username")
@click.argument("name")
def token_command(username: str, name: str) -> None:
    """Create a personal API token for USERNAME (NAME says what it is for); shown once."""
    _django_setup()

    from hepatrial.services.access import Actor
    from hepatrial.services.accounts import do_create_token
    from hepatrial.services.errors import ActionError

    user = _staff_user(username, "USERNAME")
    try:
        made, token = do_create_token(Actor(user, route="system"), name)
    except ActionError as err:
        _fail([{"field": err.field or "NAME", "problem": err.message}], "token refused", False)
    click.echo(f"API token {made.prefix}... for {username} ({made.name}); shown once, keep it secret:")
    click.echo(token)


@main.group("staff")
def staff_group() -> None:
    """Staff accounts: add one, change a role, lift a lockout, reset two-factor sign-in (each audited, done as an administrator)."""


def _sites(codes: tuple[str, ...]):
    from hepatrial.web.trial.models import Site

    found = {s.code: s for s in Site.objects.filter(code__in=codes)}
    missing = [c for c in codes if c not in found]
    if missing:
        _fail([{"field": "--site", "problem": f"no site {c!r}"} for c in missing], "bad site", False)
    return [found[c] for c in codes]


def _admin(username: str):
    """The administrator ``username`` acting from the command line (audited by name)."""
    from hepatrial.services.access import Actor
    from hepatrial.web.trial.models import Role

    actor = Actor(_staff_user(username, "--as"), route="system")
    if actor.role != Role.ADMIN:
        _fail([{"field": "--as", "problem": f"{username} is not an administrator: only an administrator manages accounts"}],
              "refused", False)  # fmt: skip
    return actor


@staff_group.command("add")
@click.argument("username")
@click.argument("role")
@click.option("--site", "sites", multiple=True, metavar="CODE", help="A site the user works at (repeat for several).")
@click.option("--as", "admin", required=True, help="The administrator doing it (audited).")
def staff_add(username: str, role: str, sites: tuple[str, ...], admin: str) -> None:
    """Create the staff user USERNAME with ROLE; a generated password is printed once."""
    _django_setup()
    from hepatrial.services.accounts import do_create_staff
    from hepatrial.services.errors import ActionError

    try:
        _user, password = do_create_staff(_admin(admin), username, role, _sites(sites))
    except ActionError as err:
        _fail([{"field": err.field or "ROLE", "problem": err.message}], "no user created", False)
    click.echo(f"{username} ({role}{', ' + ', '.join(sites) if sites else ''}) created; password, shown once:")
    click.echo(password)


@staff_group.command("role")
@click.argument("username")
@click.argument("role")
@click.option("--site", "sites", multiple=True, metavar="CODE", help="A site the user works at (repeat for several).")
@click.option("--reason", required=True, help="Why the role changes (audited).")
@click.option("--as", "admin", required=True, help="The administrator doing it (audited).")
def staff_role(username: str, role: str, sites: tuple[str, ...], reason: str, admin: str) -> None:
    """Give USERNAME the role ROLE and the sites given (replacing the old ones)."""
    _django_setup()
    from hepatrial.services.accounts import do_change_role
    from hepatrial.services.errors import ActionError

    try:
        do_change_role(_admin(admin), username, role, _sites(sites), reason)
    except ActionError as err:
        _fail([{"field": err.field or "ROLE", "problem": err.message}], "role not changed", False)
    click.echo(f"{username} is now {role}{' at ' + ', '.join(sites) if sites else ''}.")


@staff_group.command("unlock")
@click.argument("username")
@click.option("--reason", required=True, help="Why the lockout is lifted, e.g. who called and how they were identified (audited).")
@click.option("--as", "admin", required=True, help="The administrator doing it (audited).")
def staff_unlock(username: str, reason: str, admin: str) -> None:
    """End USERNAME's lockout after repeated failed sign-ins, now."""
    _django_setup()
    from hepatrial.services.accounts import do_lift_lockout

    _as_administrator(lambda actor: do_lift_lockout(actor, username, reason), admin, "lockout not lifted")
    click.echo(f"{username} can sign in again; earlier failed attempts no longer count.")


@staff_group.command("reset-two-factor")
@click.argument("username")
@click.option("--reason", required=True, help="Why, e.g. a lost phone and how the user was identified (audited).")
@click.option("--as", "admin", required=True, help="The administrator doing it (audited).")
def staff_reset_two_factor(username: str, reason: str, admin: str) -> None:
    """Remove USERNAME's authenticator app (a lost or new phone); they set up a new one at their next sign-in."""
    _django_setup()
    from hepatrial.services.two_factor import do_reset_two_factor

    _as_administrator(lambda actor: do_reset_two_factor(actor, username, reason), admin, "nothing reset")
    click.echo(f"{username}'s authenticator is removed: they set up a new one at their next sign-in.")


def _as_administrator(action, admin: str, refused: str) -> None:
    """Run ``action(actor)`` as the administrator ``admin``; a refusal names the field and exits 2."""
    from hepatrial.services.errors import ActionError

    try:
        action(_admin(admin))
    except ActionError as err:
        _fail([{"field": err.field or "USERNAME", "problem": err.message}], refused, False)


@main.command("manage", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage_command(args: tuple[str, ...]) -> None:
    """Django's management commands on the app's database (e.g. ``hepatrial manage migrate``)."""
    _django_setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["hepatrial manage", *args])


# --- randomization -------------------------------------------------------------------------------
@main.group("safety")
def safety_group() -> None:
    """Safety checks to run on a schedule (cron)."""


@safety_group.command("check")
def safety_check_command() -> None:
    """Raise (and e-mail, once) an alert for every SAE whose initial report is overdue,
    and retry the e-mail of any alert that could not be sent.

    Run it every few minutes from cron. Prints each new alert; exit 0.
    """
    _django_setup()
    from django.db import transaction

    from hepatrial.services.safety import (
        raise_overdue_alerts,
        resend_unsent_alerts,
        sae_clocks,
    )

    with transaction.atomic():
        made = raise_overdue_alerts()
    resent = resend_unsent_alerts()  # (their own mails go out on commit; this retries earlier failures too)
    for alert in made:
        click.echo(f"alert: {alert.text}")
    pending = [c for c in sae_clocks() if c.state in ("pending", "overdue")]
    click.echo(f"{len(made)} new alert(s); {len(pending)} SAE report(s) pending or overdue; {resent} alert e-mail(s) retried")


@main.group("randomization")
def randomization_group() -> None:
    """Allocation lists: generate and verify them (for the trial statistician; keep lists secret)."""


def _randomization_spec(protocol: Protocol, as_json: bool):
    if protocol.randomization is None:
        _fail([{"field": "randomization", "line": None, "problem": "the protocol has no randomization section"}],
              f"protocol {protocol.id} cannot make allocation lists", as_json)
    return protocol.randomization


def _list_problem(err) -> list[dict[str, Any]]:
    return [{"field": err.field or "(file)", "line": err.line, "problem": err.reason}]


@randomization_group.command("make-list")
@PROTOCOL_OPTION
@click.option("--seed", required=True, type=click.IntRange(min=0), metavar="S",
              help="The random seed (a whole number >= 0; use a long random one and keep it secret).")
@click.option("--sites", required=True, metavar="SITE[,SITE...]", help="Comma-separated site ids, e.g. SYSU3,GZ2.")
@click.option("--out", "out_file", required=True, metavar="FILE", help="The list file to create (never overwritten).")
@JSON_OPTION
def randomization_make_list(protocol_ref: str | None, seed: int, sites: str, out_file: str, as_json: bool) -> None:
    """Generate the allocation list (stratified permuted blocks) into a new CSV file.

    Prints the file's SHA-256 and the slots per site, stratum and arm. Exit 2
    on bad input or if FILE exists.
    """
    from hepatrial.core.randomization import (
        WEAK_SEED_BELOW,
        AllocationListError,
        make_list,
        write_list,
    )

    protocol = _protocol(protocol_ref, as_json)
    spec = _randomization_spec(protocol, as_json)
    site_ids = [s.strip() for s in sites.split(",")]
    try:
        alist = make_list(spec, sites=site_ids, seed=seed, protocol_id=protocol.id)
    except AllocationListError as err:
        _fail([{"field": f"--{err.field or 'sites'}", "problem": err.reason}], "cannot make the list", as_json)
    if os.path.lexists(out_file):
        _fail([{"field": "--out", "problem": f"{out_file} exists; a list file is never overwritten"}], "cannot make the list", as_json)
    try:
        digest = write_list(alist, out_file)
    except FileExistsError:
        _fail([{"field": "--out", "problem": f"{out_file} exists; a list file is never overwritten"}], "cannot make the list", as_json)
    except OSError as err:
        _fail([{"field": "--out", "problem": f"cannot write {out_file}: {err.strerror}"}], "cannot make the list", as_json)
    counts = alist.counts()
    blocks = {cell: rows[-1].block for cell, rows in alist.cells().items()}
    arms = list(spec.arms)
    if seed < WEAK_SEED_BELOW:
        click.echo(f"warning: seed {seed} is below 2^32: whoever guesses the method can try every such seed. "
                   "Use a long random one (python -c 'import secrets; print(secrets.randbits(64))').", err=True)
    if as_json:
        _echo_json({
            "file": out_file, "protocol": protocol.id, "sha256": digest, "rows": len(alist.rows),
            "cells": [{"site": site, "stratum": stratum, "slots": sum(c.values()), "blocks": blocks[(site, stratum)], "arms": c}
                      for (site, stratum), c in counts.items()],
        })
        return
    click.echo(f"Wrote {out_file}: protocol {protocol.id}, {len(alist.sites)} site(s) x {len(spec.strata)} strata, "
               f"{len(alist.rows)} slots")
    click.echo(f"sha256: {digest}\n")
    width = max(len(s) for s in [*alist.sites, "site"]) + 2
    swidth = max(len(s) for s in [*spec.strata, "stratum"]) + 2
    click.echo(f"{'site':<{width}}{'stratum':<{swidth}}{'slots':>6}{'blocks':>8}" + "".join(f"{a:>{max(len(a), 5) + 2}}" for a in arms))
    for (site, stratum), c in counts.items():
        click.echo(f"{site:<{width}}{stratum:<{swidth}}{sum(c.values()):>6}{blocks[(site, stratum)]:>8}"
                   + "".join(f"{c.get(a, 0):>{max(len(a), 5) + 2}}" for a in arms))
    click.echo("\nKeep this file and the seed secret: only the statistician and the admin may see the list.")


@randomization_group.command("verify-file")
@click.argument("list_file")
@click.option("--protocol", "protocol_ref", metavar="ID|FILE", default=None,
              help="Also check the list against this protocol's randomization section and id.")
@JSON_OPTION
def randomization_verify_file(list_file: str, protocol_ref: str | None, as_json: bool) -> None:
    """Verify an allocation-list file: its digest and its structure (exit 2 with the line and reason)."""
    from hepatrial.core.randomization import AllocationListError, read_list, reproduces

    spec = protocol_id = None
    if protocol_ref is not None:
        protocol = _protocol(protocol_ref, as_json)
        spec, protocol_id = _randomization_spec(protocol, as_json), protocol.id
    try:
        alist = read_list(list_file, spec=spec, protocol_id=protocol_id)
    except AllocationListError as err:
        _fail(_list_problem(err), f"{list_file} is not a valid allocation list", as_json)
    strata = list(dict.fromkeys(r.stratum for r in alist.rows))
    reproduced = reproduces(alist, spec) if spec is not None else None
    if as_json:
        _echo_json({"ok": True, "file": list_file, "protocol": alist.protocol_id, "sha256": alist.digest,
                    "rows": len(alist.rows), "sites": list(alist.sites), "strata": strata,
                    "checked_against_protocol": spec is not None, "seed_reproduces": reproduced})
        return
    against = f", checked against protocol {protocol_id}" if spec is not None else " (structure only: no --protocol)"
    click.echo(f"OK: {list_file} is an allocation list for {alist.protocol_id}: {len(alist.rows)} slots, "
               f"sites {', '.join(alist.sites)}, strata {', '.join(strata)}{against}")
    click.echo(f"sha256: {alist.digest}")
    if reproduced is not None:
        click.echo("The seed and the protocol regenerate exactly this list." if reproduced
                   else "Note: the seed and the protocol do not regenerate this list (made with other settings or another tool).")


@randomization_group.command("import")
@click.argument("list_file")
@click.option("--as", "username", required=True, help="The statistician or admin importing it (audited).")
def randomization_import(list_file: str, username: str) -> None:
    """Import the allocation list into the app's database, once; verified row by row."""
    _django_setup()

    from hepatrial.services.access import Actor
    from hepatrial.services.errors import ActionError
    from hepatrial.services.randomization import do_import_list

    user = _staff_user(username, "--as")
    try:
        imported = do_import_list(Actor(user, route="import"), list_file)
    except ActionError as err:
        problems = [{"field": f, "problem": m} for f, ms in err.errors.items() for m in ms] or [
            {"field": "(list)", "problem": err.message}
        ]
        _fail(problems, f"allocation list not imported: {list_file}", False)
    click.echo(f"Imported {imported.rows} slots for {imported.protocol_id}; sha256 {imported.digest}")


@randomization_group.command("verify")
@click.argument("list_file", required=False)
def randomization_verify(list_file: str | None) -> None:
    """Check the imported list against its recorded digest (and against LIST_FILE if given)."""
    _django_setup()
    from hepatrial.services.randomization import verify_list

    problems = verify_list(list_file)
    if problems:
        _fail([{"field": "(list)", "problem": p} for p in problems], "the allocation list does not verify", False)
    click.echo("OK: the imported allocation list matches its digest" + (f" and {list_file}" if list_file else ""))


# --- analyze ---------------------------------------------------------------------------------------
@main.group("analyze", invoke_without_command=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write the report here (report.html, report.pdf, report.json).")
@click.option("--database", "database_url", metavar="URL", help="The trial database (default: the app's, HEPATRIAL_DATABASE_URL).")
@click.option("--adam", "adam_dir", type=click.Path(file_okay=False, exists=True), help="Build from ADaM CSVs in DIR instead of a database.")
@JSON_OPTION
@click.pass_context
def analyze_group(ctx: click.Context, out_dir: str | None, database_url: str | None, adam_dir: str | None, as_json: bool) -> None:
    """The analysis report, or (with a subcommand) one analysis of ADaM data.

    Without a subcommand: the report (CONSORT flow, Table 1, safety, time to event,
    trajectories, listings) from the trial database or from ADaM CSVs (--adam),
    written as report.html, report.pdf and report.json (all numbers) into --out; with --json
    the numbers are printed too. Methods checked against R: docs/analysis.md.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not out_dir:
        _fail([{"field": "--out", "line": None, "problem": "give the folder to write the report into"}], "no --out", as_json)
    if database_url and adam_dir:
        _fail([{"field": "--adam", "line": None, "problem": "give --database or --adam, not both"}], "two sources", as_json)
    out = Path(out_dir)
    if adam_dir:
        from hepatrial.core.report.adam_files import report_from_adam_files

        try:
            html, numbers, pdf = report_from_adam_files(Path(adam_dir), __version__, pdf=True, protocol=_protocol(None, as_json))
        except (FileNotFoundError, KeyError, ValueError) as err:
            _fail([{"field": "--adam", "line": None, "problem": str(err)}], "the ADaM files cannot be read", as_json)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.html").write_text(html, encoding="utf-8")
        (out / "report.pdf").write_bytes(pdf)
        (out / "report.json").write_text(json.dumps(numbers, indent=2, default=str), encoding="utf-8")
        paths = {"html": out / "report.html", "pdf": out / "report.pdf", "json": out / "report.json"}
    else:
        if database_url:
            os.environ["HEPATRIAL_DATABASE_URL"] = database_url
        _django_setup()
        from django.db import DatabaseError, connection
        from django.db.migrations.executor import MigrationExecutor

        from hepatrial.services.report import write_report

        try:
            unapplied = MigrationExecutor(connection).migration_plan(MigrationExecutor(connection).loader.graph.leaf_nodes())
        except DatabaseError as err:
            _fail([{"field": "--database", "line": None, "problem": f"cannot read the database: {err}"}], "no database", as_json)
        if unapplied:
            _fail([{"field": "--database", "line": None,
                    "problem": "the database is not set up (run hepatrial serve once, or hepatrial manage migrate)"}],
                  "the database is not set up", as_json)  # fmt: skip
        paths = write_report(out)
    if as_json:
        click.echo((out / "report.json").read_text(encoding="utf-8"))
    else:
        for name, path in paths.items():
            click.echo(f"{name}: {path}")


def _days(text: str | None, as_json: bool) -> list[float]:
    days = []
    for part in (text or "").split(","):
        try:
            day = float(part)
        except ValueError:
            day = -1.0
        if not 0 <= day < float("inf"):
            _fail([{"field": "--at", "problem": f"{part.strip()!r} is not a number of days >= 0"}], "bad --at", as_json)
        days.append(day)
    return days


@analyze_group.command("tte")
@click.argument("adtte_file")
@click.option("--param", default=None, metavar="CODE", help="The PARAMCD to analyse (required if the file has several).")
@click.option("--at", "at_days", default=None, metavar="DAYS,...", help="Days at which to report survival, e.g. 84,168.")
@click.option("--ties", type=click.Choice(["efron", "breslow"]), default="efron", show_default=True,
              help="Handling of tied event times in the Cox model.")
@JSON_OPTION
def analyze_tte(adtte_file: str, param: str | None, at_days: str | None, ties: str, as_json: bool) -> None:
    """Compare arms on one time-to-event endpoint of an ADaM ADTTE CSV file.

    Per arm: n, events, Kaplan-Meier median with 95% CI and survival at --at days;
    the log-rank test; the Cox hazard ratio of the second arm (sort order) vs the first.
    """
    import csv

    from hepatrial.core.analysis.survival import (
        SurvivalInputError,
        adtte_arrays,
        compare_arms,
        render_arm_comparison,
    )

    at = _days(at_days, as_json) if at_days is not None else []
    try:
        with open(adtte_file, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        data = adtte_arrays(rows, param)
        result = compare_arms(data.durations, data.events, data.arms, at=at, ties=ties)
    except OSError as err:
        _fail([{"field": "ADTTE_FILE", "problem": err.strerror or str(err)}], f"cannot read {adtte_file}", as_json)
    except (csv.Error, UnicodeDecodeError) as err:
        _fail([{"field": "(file)", "problem": str(err)}], f"bad ADTTE file {adtte_file}", as_json)
    except SurvivalInputError as err:
        _fail([{"field": err.field, "problem": err.reason}], f"bad ADTTE file {adtte_file}", as_json)
    result = {"file": adtte_file, "param": data.param, "arm_column": data.arm_column, **result}
    if as_json:
        _echo_json(result)
        return
    click.echo(f"{adtte_file}: PARAMCD {data.param}, arms from {data.arm_column}; "
               f"{result['n']} subjects, {result['events']} events")  # fmt: skip
    click.echo("\n".join(render_arm_comparison(result)))


# --- backup and restore -------------------------------------------------------------------------
def _database_description() -> str:
    from django.conf import settings

    database = settings.DATABASES["default"]
    return str(database["NAME"]) if database["ENGINE"].endswith("sqlite3") else f"PostgreSQL {database.get('HOST')}/{database['NAME']}"


@main.command("backup")
@click.argument("out_file", type=click.Path(dir_okay=False))
def backup_command(out_file: str) -> None:
    """Write a consistent copy of the database to OUT_FILE, with its content digest.

    SQLite: the online backup API, while the app runs; PostgreSQL: pg_dump
    (custom format) in a snapshot. The content digest (SHA-256 over every
    table's rows) is printed and written to OUT_FILE.digest.json, which
    `hepatrial restore` checks the restored database against. A backup never
    overwrites a file.
    """
    _django_setup()
    from hepatrial.services.backup import backup
    from hepatrial.services.errors import ActionError

    bars: list = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label="Pages copied", file=sys.stderr, show_pos=True))
            bars[0].__enter__()
        bars[0].update(done - bars[0].pos)

    try:
        content = backup(Path(out_file), progress=progress)
    except ActionError as err:
        _fail([{"field": err.field or "(backup)", "problem": err.message}], "no backup written", False)
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    click.echo(f"backup of {_database_description()} written to {out_file} ({content.kind}):")
    click.echo(f"  {content.describe()}")


@main.command("restore")
@click.argument("in_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace the database without asking first.")
def restore_command(in_file: str, yes: bool) -> None:
    """Replace the database with the backup IN_FILE, then check what was restored.

    Stop `hepatrial serve` first. Prints the restored database's content
    digest and compares it with the one recorded at backup time
    (IN_FILE.digest.json), then verifies the audit trail's hash chain; exits 1
    if either does not hold, 2 if IN_FILE is not a backup of this kind of
    database.
    """
    _django_setup()
    from hepatrial.services.audit import verify_chain
    from hepatrial.services.backup import backup_kind, expected_content, restore, sidecar
    from hepatrial.services.errors import ActionError

    path = Path(in_file)
    where = _database_description()
    try:
        backup_kind(path)
        expected = expected_content(path)
        if not yes:
            click.confirm(f"Replace every row of {where} with the backup {in_file}?", abort=True)
        content = restore(path)
    except ActionError as err:
        _fail([{"field": err.field or "(restore)", "problem": err.message}], "nothing restored", False)
    click.echo(f"restored {in_file} into {where}:")
    click.echo(f"  {content.describe()}")
    failed = False
    if expected is None:
        click.echo(f"  no digest was recorded beside the backup ({sidecar(path).name}): nothing to compare with")
    elif expected.digest == content.digest:
        click.echo("  the digest matches the one recorded at backup time")
    else:
        click.echo(f"the digest DIFFERS from the one recorded at backup time (sha256:{expected.digest})", err=True)
        failed = True
    verdict = verify_chain()
    if verdict.ok:
        click.echo(f"  audit trail verified: {verdict.rows:,} rows; last hash {verdict.head}")
    else:
        click.echo(f"the audit trail is BROKEN at row {verdict.broken.position:,} (id {verdict.broken.key}): "
                   f"{verdict.broken.problem}", err=True)  # fmt: skip
        failed = True
    if failed:
        sys.exit(1)


# --- the audit trail ----------------------------------------------------------------------------
@main.group("audit")
def audit_group() -> None:
    """The audit trail: check that no row of it was changed, removed or inserted."""


@audit_group.command("verify")
@JSON_OPTION
def audit_verify(as_json: bool) -> None:
    """Walk the audit trail's hash chain, row by row in the order written.

    Each row's hash covers the row before it and its own content, so a row
    changed in the database breaks its own hash, and a row removed or inserted
    breaks the next one's link. Prints the number of rows and the last hash
    (worth writing down: a trail rewritten from some row on, hashes and all,
    ends in another one), or the first row that does not hold; exits 1 then.
    """
    _django_setup()
    from hepatrial.services.audit import verify_chain
    from hepatrial.web.trial.models import AuditEvent

    total = AuditEvent.objects.count()
    with click.progressbar(length=total, label="Audit rows", file=sys.stderr, show_pos=True) as bar:
        verdict = verify_chain(progress=bar.update)
    broken = verdict.broken
    row = AuditEvent.objects.filter(pk=broken.key).first() if broken else None
    if as_json:
        _echo_json({"ok": verdict.ok, "rows": verdict.rows, "head": verdict.head,
                    "broken": None if broken is None else {
                        "position": broken.position, "id": broken.key, "problem": broken.problem,
                        "at": row.at.isoformat() if row else None, "action": row.action if row else None}})  # fmt: skip
    elif broken is None:
        click.echo(f"audit trail verified: {verdict.rows:,} rows, each linked to the one before it.")
        click.echo(f"last hash: {verdict.head}")
    else:
        what = f" ({row.at:%Y-%m-%d %H:%M:%S} UTC, {row.action} {row.model} {row.object_id} by {row.username})" if row else ""
        click.echo(f"audit trail BROKEN at row {broken.position:,} (id {broken.key}){what}:", err=True)
        click.echo(f"  {broken.problem}", err=True)
        click.echo(f"  the {broken.position - 1:,} rows before it hold; last good hash {verdict.head}", err=True)
    if broken is not None:
        sys.exit(1)


def run() -> None:
    """The console entry point: ``main`` with a last-resort handler.

    A bug must not look like a verdict: anything unexpected exits 4 with a
    one-line message (the traceback with HEPATRIAL_DEBUG=1).
    """
    try:
        main()
    except Exception as err:  # noqa: BLE001 - the last resort, by design
        if os.environ.get("HEPATRIAL_DEBUG"):
            raise
        click.echo(f"internal error: {type(err).__name__}: {err}", err=True)
        click.echo("this is a bug in hepatrial; rerun with HEPATRIAL_DEBUG=1 for the traceback", err=True)
        sys.exit(EXIT_INTERNAL_ERROR)


if __name__ == "__main__":  # pragma: no cover
    run()
