"""Pre-screening from the web app: a coordinator chooses one of the site's data sources, the
run goes on in the background (its progress saved as it goes), and its candidates open into
a pre-filled screening form.

Sources are folders of the site's own folder in the pre-screening directory
(``HEPATRIAL_PRESCREEN_DIR``, default ``HEPATRIAL_HOME/prescreen``, then the site code:
``prescreen/SYSU3/omop-2026-11``), each an OMOP extract or a flat lab table as
``hepatrial prescreen run`` reads them. A hospital's data is seen by its own site's staff
only; a user picks a name from the list, never types a path. Viewing a run's candidates
and opening one are audited, like starting and finishing a run.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.candidate import Candidate
from hepatrial.core.criteria.sql import CompileError
from hepatrial.core.prescreen.sources import Source, SourceError
from hepatrial.core.screening import CandidateFacts
from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.errors import ActionError, Conflict, Invalid
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import PrescreenRun, Site

#: Candidates kept with a run, the most recent first (the funnel counts them all).
KEEP_CANDIDATES = 500
#: A queued or running run whose job has not been heard of this long (its last heartbeat, or
#: its start) was cut off by a restart.
INTERRUPTED_AFTER = timedelta(minutes=2)
#: How often a run's job says it is alive (PrescreenRun.heartbeat_at).
HEARTBEAT = timedelta(seconds=20)
#: The fields a candidate file holds that pre-screening takes from data (not assumptions).
PREFILLED = ("age", "sex", "chronic_liver_disease")


def prescreen_dir() -> Path:
    configured = os.environ.get("HEPATRIAL_PRESCREEN_DIR") or getattr(settings, "HEPATRIAL_PRESCREEN_DIR", None)
    return Path(configured) if configured else Path(settings.HOME) / "prescreen"


def prescreen_sources(site: Site) -> dict[str, Source]:
    """The readable sources of ``site``'s folder of the pre-screening directory, by folder name."""
    folder = prescreen_dir() / site.code
    sources: dict[str, Source] = {}
    if folder.is_dir():
        for child in sorted(p for p in folder.iterdir() if p.is_dir()):
            try:
                sources[child.name] = Source.folder(child)
            except SourceError:
                continue
    return sources


@transaction.atomic
def do_start_prescreen(actor: Actor, site: Site, source_name: str, *, background: bool = True) -> PrescreenRun:
    """Queue a pre-screening of ``source_name`` for ``site``; it starts when this commits."""
    require(actor, "screen", site)
    if source_name not in prescreen_sources(site):
        raise Invalid(_("Choose one of the data sources listed."), errors={"source": [_("not a data source")]})
    busy = PrescreenRun.objects.select_for_update(no_key=True).filter(
        site=site, status__in=(PrescreenRun.Status.QUEUED, PrescreenRun.Status.RUNNING))
    if any(not _interrupted(run) for run in busy):
        raise Conflict(_("A pre-screening of this site is still running; wait for it to finish."))
    protocol = current_protocol()
    run = PrescreenRun.objects.create(site=site, source=source_name, protocol_id=protocol.id, started_by=actor.user,
                                      created_at=timezone.now())  # fmt: skip
    record(actor, "start_prescreen", run, new={"source": source_name, "protocol": protocol.id}, site=site)
    if background:
        transaction.on_commit(lambda: _start(run.pk, actor))
    return run


#: Runs whose background job is alive in this process.
_LIVE: set[int] = set()


def _start(run_id: int, actor: Actor) -> None:
    _LIVE.add(run_id)
    threading.Thread(target=_in_thread, args=(run_id, actor), daemon=True).start()


def _in_thread(run_id: int, actor: Actor) -> None:
    close_old_connections()
    done = threading.Event()
    threading.Thread(target=_heartbeat, args=(run_id, done), name=f"prescreen-{run_id}-heartbeat", daemon=True).start()
    try:
        execute_prescreen(run_id, actor)
    finally:
        done.set()
        _LIVE.discard(run_id)
        connection.close()  # this thread's own database connection


def _heartbeat(run_id: int, done: threading.Event) -> None:
    """Say every HEARTBEAT that the run's job is alive, until ``done``: the server's other
    processes (hepatrial.web.server) see the run in the database, not in their _LIVE."""
    try:
        while not done.wait(HEARTBEAT.total_seconds()):
            try:
                PrescreenRun.objects.filter(pk=run_id, status__in=(PrescreenRun.Status.QUEUED, PrescreenRun.Status.RUNNING)
                                            ).update(heartbeat_at=timezone.now())  # fmt: skip
            except DatabaseError:  # (a busy or lost database) the next beat tries again, on a new connection
                connection.close()
    finally:
        connection.close()  # this thread's own


def _interrupted(run: PrescreenRun) -> bool:
    """A queued or running run whose job is not alive (the server stopped meanwhile): not
    running in this process, and not heard of (its heartbeat, or its start) for a while."""
    if run.pk in _LIVE:
        return False
    return (run.heartbeat_at or run.created_at) < timezone.now() - INTERRUPTED_AFTER


def settle_interrupted(runs) -> None:
    """Mark the runs whose job died with the server as failed (they would wait for ever)."""
    for run in runs:
        if run.status in (PrescreenRun.Status.QUEUED, PrescreenRun.Status.RUNNING) and _interrupted(run):
            with transaction.atomic():
                PrescreenRun.objects.filter(pk=run.pk, status=run.status).update(
                    status=PrescreenRun.Status.FAILED, error=_("interrupted: the server stopped during the run"),
                    finished_at=timezone.now())  # fmt: skip
            run.refresh_from_db()


def execute_prescreen(run_id: int, actor: Actor) -> PrescreenRun:
    """Run a queued pre-screening (the background job's body), saving progress and the result."""
    from hepatrial.prescreen.engine import EngineError, run_prescreen
    from hepatrial.prescreen.output import result_json

    run = PrescreenRun.objects.select_related("site").get(pk=run_id)
    if run.status != PrescreenRun.Status.QUEUED:
        raise ActionError(_("This pre-screening has already run."))
    PrescreenRun.objects.filter(pk=run_id).update(status=PrescreenRun.Status.RUNNING, heartbeat_at=timezone.now())
    last = {"saved": 0.0}
    owner = threading.get_ident()

    def progress(percent: float) -> None:  # called from the engine's watcher thread (and at the end, here)
        if percent - last["saved"] >= 5 or percent >= 100:
            last["saved"] = percent
            try:
                PrescreenRun.objects.filter(pk=run_id).update(progress=min(percent, 99.0))
            finally:
                if threading.get_ident() != owner:
                    connection.close()  # the watcher thread's own connection

    try:
        source = prescreen_sources(run.site).get(run.source)
        if source is None:
            raise SourceError(run.source, "is no longer a data source")
        result = run_prescreen(current_protocol(), source, tz=ZoneInfo(run.site.time_zone), progress=progress)
        data = result_json(result)
        data["candidates_total"] = len(data["candidates"])
        data["candidates"] = sorted(data["candidates"], key=lambda c: c["first_qualifying_at"], reverse=True)[:KEEP_CANDIDATES]
        status, error = PrescreenRun.Status.DONE, ""
    except (SourceError, EngineError, CompileError) as err:
        data, status, error = None, PrescreenRun.Status.FAILED, str(err)
    except Exception as err:  # noqa: BLE001 - a run must end, failed, whatever went wrong
        data, status, error = None, PrescreenRun.Status.FAILED, f"{type(err).__name__}: {err}"
    with transaction.atomic():
        run = PrescreenRun.objects.select_for_update(no_key=True).get(pk=run_id)
        run.status, run.error, run.result = status, error, data
        run.patients = data["patients"] if data else None
        run.candidates = data["candidates_total"] if data else None
        run.progress = 100.0 if status == PrescreenRun.Status.DONE else run.progress
        run.finished_at = timezone.now()
        run.save()
        summary = {"status": status, "error": error}
        if data:
            summary.update(patients=data["patients"], candidates=data["candidates_total"])
        record(Actor(actor.user, route="background"), "finish_prescreen", run, new=summary, site=run.site)
    return run


@transaction.atomic
def record_view(actor: Actor, run: PrescreenRun, person_id: str | None = None) -> None:
    """Audit that ``actor`` saw a run's candidates (or opened one, ``person_id``)."""
    if person_id is None:
        record(actor, "view_prescreen", run, site=run.site)
    else:
        record(actor, "open_prescreen_candidate", run, new={"person": person_id}, site=run.site)


def prescreen_candidate(run: PrescreenRun, person_id: str) -> dict[str, Any] | None:
    """One candidate of a finished run, by its patient id (as text)."""
    for candidate in (run.result or {}).get("candidates", []):
        if str(candidate["person_id"]) == person_id:
            return candidate
    return None


def screening_prefill(run: PrescreenRun, candidate: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The screening form's initial values and lab rows for a pre-screening candidate: the
    assessment time, what the data holds (age, sex, diagnoses) and the results the criteria
    used, in the site's time. Nothing assumed is filled in: the clinician answers the rest."""
    tz = ZoneInfo(run.site.time_zone)
    data = candidate["candidate_file"]
    initial: dict[str, Any] = {"site": str(run.site.pk)}
    initial["assessed_at"] = _local(data["assessed_at"], tz)
    for name in PREFILLED:
        if name in data and name not in _assumed(run):
            initial[name] = "yes" if data[name] is True else "no" if data[name] is False else data[name]
    for item, value in (data.get("history") or {}).items():
        if f"history.{item}" not in _assumed(run):
            initial[f"history_{item}"] = "yes" if value else "no"
    # the results the criteria read first (each test's latest and, for a rise, its previous
    # one), then the others, newest first: the form has a limited number of rows
    candidate = Candidate.model_validate(data)
    facts = CandidateFacts(candidate, current_protocol().screening)
    used = []
    for test in dict.fromkeys(lab.test for lab in candidate.labs):
        latest = facts.latest_result(test)
        if latest is not None:
            used.append(latest)
            previous = facts.previous_result(test, latest)
            if previous is not None:
                used.append(previous)
    rest = sorted((lab for lab in candidate.labs if lab not in used), key=lambda lab: lab.at, reverse=True)
    labs = [{"test": lab.test, "value": lab.value, "unit": lab.unit_spelled or "", "at": lab.at.astimezone(tz).strftime("%Y-%m-%dT%H:%M")}
            for lab in [*used, *rest]]  # fmt: skip
    return initial, labs


def _assumed(run: PrescreenRun) -> set[str]:
    return {a["field"] for a in (run.result or {}).get("assumptions", [])}


def _local(iso: str, tz: ZoneInfo) -> str:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
