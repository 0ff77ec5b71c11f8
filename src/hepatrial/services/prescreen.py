"""Pre-screening from the web app: a coordinator chooses one of the site's data sources, the
run goes on in the background (its progress saved as it goes), and its candidates open into
a pre-filled screening form.

Sources are folders of the pre-screening directory (``HEPATRIAL_PRESCREEN_DIR``, default
``HEPATRIAL_HOME/prescreen``), each an OMOP extract or a flat lab table as
``hepatrial prescreen run`` reads them: a user picks a name from the list, never types a path.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hepatrial.core.labs import accepted_unit, lab_test
from hepatrial.core.prescreen.sources import Source, SourceError
from hepatrial.services.access import Actor, require
from hepatrial.services.audit import record
from hepatrial.services.errors import ActionError, Invalid
from hepatrial.services.protocol import current_protocol
from hepatrial.web.trial.models import PrescreenRun, Site

#: Candidates kept with a run (the funnel counts them all).
KEEP_CANDIDATES = 500
#: The fields a candidate file holds that pre-screening takes from data (not assumptions).
PREFILLED = ("age", "sex", "chronic_liver_disease")


def prescreen_dir() -> Path:
    configured = os.environ.get("HEPATRIAL_PRESCREEN_DIR") or getattr(settings, "HEPATRIAL_PRESCREEN_DIR", None)
    return Path(configured) if configured else Path(settings.HOME) / "prescreen"


def prescreen_sources() -> dict[str, Source]:
    """The readable sources of the pre-screening directory, by folder name."""
    folder = prescreen_dir()
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
    if source_name not in prescreen_sources():
        raise Invalid(_("Choose one of the data sources listed."), errors={"source": [_("not a data source")]})
    protocol = current_protocol()
    run = PrescreenRun.objects.create(site=site, source=source_name, protocol_id=protocol.id, started_by=actor.user,
                                      created_at=timezone.now())  # fmt: skip
    record(actor, "start_prescreen", run, new={"source": source_name, "protocol": protocol.id}, site=site)
    if background:
        transaction.on_commit(lambda: threading.Thread(target=_in_thread, args=(run.pk, actor), daemon=True).start())
    return run


def _in_thread(run_id: int, actor: Actor) -> None:
    close_old_connections()
    try:
        execute_prescreen(run_id, actor)
    finally:
        connection.close()  # this thread's own database connection


def execute_prescreen(run_id: int, actor: Actor) -> PrescreenRun:
    """Run a queued pre-screening (the background job's body), saving progress and the result."""
    from hepatrial.prescreen.engine import EngineError, run_prescreen
    from hepatrial.prescreen.output import result_json

    run = PrescreenRun.objects.select_related("site").get(pk=run_id)
    if run.status != PrescreenRun.Status.QUEUED:
        raise ActionError(_("This pre-screening has already run."))
    PrescreenRun.objects.filter(pk=run_id).update(status=PrescreenRun.Status.RUNNING)
    last = {"saved": 0.0}

    def progress(percent: float) -> None:
        if percent - last["saved"] >= 5 or percent >= 100:
            last["saved"] = percent
            PrescreenRun.objects.filter(pk=run_id).update(progress=min(percent, 99.0))

    try:
        source = prescreen_sources().get(run.source)
        if source is None:
            raise SourceError(run.source, "is no longer a data source")
        result = run_prescreen(current_protocol(), source, tz=ZoneInfo(run.site.time_zone), progress=progress)
        data = result_json(result)
        data["candidates_total"] = len(data["candidates"])
        data["candidates"] = data["candidates"][:KEEP_CANDIDATES]
        status, error = PrescreenRun.Status.DONE, ""
    except (SourceError, EngineError) as err:
        data, status, error = None, PrescreenRun.Status.FAILED, str(err)
    with transaction.atomic():
        run = PrescreenRun.objects.select_for_update().get(pk=run_id)
        run.status, run.error, run.result = status, error, data
        run.progress = 100.0 if status == PrescreenRun.Status.DONE else run.progress
        run.finished_at = timezone.now()
        run.save()
        summary = {"status": status, "error": error}
        if data:
            summary.update(patients=data["patients"], candidates=data["candidates_total"])
        record(Actor(actor.user, route="background"), "finish_prescreen", run, new=summary, site=run.site)
    return run


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
    labs = [{"test": lab["test"], "value": lab["value"], "unit": _spelled(lab), "at": _local(lab["at"], tz)}
            for lab in reversed(data.get("labs", []))]  # fmt: skip
    return initial, labs


def _spelled(lab: dict[str, Any]) -> str:
    """The unit as the form lists it ("" for a ratio): "{INR}" -> "", "umol/l" -> "umol/L"."""
    spelled = accepted_unit(lab_test(lab["test"]), lab.get("unit"))
    return "" if spelled == "ratio" else spelled


def _assumed(run: PrescreenRun) -> set[str]:
    return {a["field"] for a in (run.result or {}).get("assumptions", [])}


def _local(iso: str, tz: ZoneInfo) -> str:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
