"""The pre-screening pages: choose a data source, watch the run, read its candidates and open
one into a pre-filled screening form (services.prescreen does the work)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from hepatrial.core.screening import excludes
from hepatrial.services.access import Actor, can, visible_sites
from hepatrial.services.errors import ActionError
from hepatrial.services.prescreen import (
    do_start_prescreen,
    prescreen_dir,
    prescreen_sources,
    record_view,
    settle_interrupted,
)
from hepatrial.web.trial.models import PrescreenRun


def _css(criterion: dict) -> str:
    """pass / fail (what the status means for eligibility), check (a clinician's), unknown."""
    status = criterion["status"]
    if status in ("to_check", "unknown"):
        return "check" if status == "to_check" else "unknown"
    return "fail" if excludes(criterion["kind"], status) else "pass"


def _actor(request) -> Actor:
    return Actor(request.user, route="web")


def _screening_sites(actor: Actor):
    sites = [s for s in visible_sites(actor) if can(actor, "screen", s)]
    if not sites:
        raise PermissionDenied(_("Your role does not allow screening."))
    return sites


def run_for(actor: Actor, pk: int) -> PrescreenRun:
    """A run of a site the user may screen at (404 otherwise: no hint that it exists)."""
    sites = _screening_sites(actor)
    return get_object_or_404(PrescreenRun.objects.select_related("site", "started_by"), pk=pk, site__in=sites)


@login_required
def prescreen_page(request):
    actor = _actor(request)
    sites = _screening_sites(actor)
    sources = [(site, name, source) for site in sites for name, source in prescreen_sources(site).items()]
    status, error = 200, None
    if request.method == "POST":
        site_pk, _sep, name = request.POST.get("source", "").partition(":")
        site = next((s for s in sites if str(s.pk) == site_pk), None)
        if site is None:
            status, error = 422, _("Choose one of the data sources listed.")
        else:
            try:
                run = do_start_prescreen(actor, site, name)
            except ActionError as err:
                status, error = err.status, err.message
            else:
                messages.success(request, _("Pre-screening started."))
                return redirect("prescreen_run", pk=run.pk)
    runs = list(PrescreenRun.objects.filter(site__in=sites).select_related("site", "started_by").defer("result")[:20])
    settle_interrupted(runs)
    return render(request, "trial/prescreen.html", {
        "sources": sources, "runs": runs, "error": error, "folder": prescreen_dir(), "sites": sites,
    }, status=status)  # fmt: skip


@login_required
def prescreen_run(request, pk: int):
    actor = _actor(request)
    run = run_for(actor, pk)
    settle_interrupted([run])
    result = run.result or {}
    if result.get("candidates"):
        record_view(actor, run)
    candidates = []
    for c in result.get("candidates", []):
        values = c["values"]
        candidates.append({
            "person_id": c["person_id"], "first": c["first_qualifying_at"].replace("T", " ")[:16], "days": c["qualifying_lab_days"],
            "bilirubin": values.get("latest__total_bilirubin"), "rise": values.get("rise__total_bilirubin"),
            "inr": values.get("latest__inr"), "meld": next((v for k, v in values.items() if k.startswith("score__")), None),
            "age": values.get("f__age"), "sex": values.get("f__sex"),
            "criteria": [dict(x, css=_css(x)) for x in c["criteria"]],
            "disagreements": c["disagreements"],
        })  # fmt: skip
    return render(request, "trial/prescreen_run.html", {
        "run": run, "result": result, "candidates": candidates,
        "running": run.status in (PrescreenRun.Status.QUEUED, PrescreenRun.Status.RUNNING),
    })  # fmt: skip


@login_required
def prescreen_progress(request, pk: int):
    run = run_for(_actor(request), pk)
    settle_interrupted([run])
    return JsonResponse({"status": run.status, "progress": round(run.progress, 1), "error": run.error})
