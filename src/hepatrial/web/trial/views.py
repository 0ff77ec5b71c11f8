"""Thin views: read what the user may see, call an action, render.

Every view needs a login; every object is looked up within the user's visible
sites (a record of another site is a 404, so its existence does not leak);
every write is a ``services`` action, whose refusal (:class:`ActionError`) is
shown with its message and HTTP status (403, 404, 409, 422).
"""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, prefetch_related_objects
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from hepatrial.services.access import Actor, can, sees_identity, visible_sites
from hepatrial.services.accounts import locked_out_until, record_access
from hepatrial.services.allocation_admin import (
    do_allocate_manually,
    do_mark_slot_unavailable,
    do_restore_slot,
)
from hepatrial.services.dosing import (
    DeviationInput,
    do_report_deviation,
    dose_initial,
    is_dosing_form,
    subject_dose_calendar,
)
from hepatrial.services.enrollment import (
    active_consent,
    consent_state,
    do_enroll,
    do_record_consent,
    do_withdraw_consent,
    enrollment_blockers,
    needs_reconsent,
)
from hepatrial.services.errors import ActionError, Conflict, Invalid, NotFound
from hepatrial.services.forms import (
    do_save_form,
    sequence_allowed,
    visit_and_form,
    visit_grid,
)
from hepatrial.services.lab_safety import (
    GRADED as LAB_TESTS_GRADED,
)
from hepatrial.services.lab_safety import (
    LAB_FORM,
    do_dismiss_proposal,
    do_record_ae_from_proposal,
    do_set_reference_range,
    grade_entry,
    proposal_initial,
)
from hepatrial.services.locks import describe as describe_lock
from hepatrial.services.locks import lock_on
from hepatrial.services.protocol import arm_label, current_protocol
from hepatrial.services.queries import (
    CLOSED_STATES,
    OPEN_STATES,
    do_answer_query,
    do_close_query,
    do_raise_query,
    do_reopen_query,
    query_age_days,
)
from hepatrial.services.randomization import do_randomize, randomization_blockers
from hepatrial.services.safety import (
    ae_counts_by_arm,
    comparative_safety,
    do_record_dsmb_decision,
    do_submit_sae_report,
    dosing_halt,
    halt_message,
    is_ae_form,
    next_adverse_event,
    sae_clock,
    sae_clocks,
    sae_timeline_points,
    subject_adverse_events,
)
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.charts import ae_grade_bars, sae_timeline
from hepatrial.web.trial.forms import (
    LAB_ROWS,
    AuditFilterForm,
    ConsentForm,
    DecisionForm,
    DeviationForm,
    DsmbDecisionForm,
    ManualAllocationForm,
    QueryFilterForm,
    QueryMessageForm,
    RaiseQueryForm,
    ReferenceRangeForm,
    SaeReportForm,
    ScreeningForm,
    WithdrawForm,
    apply_candidate_errors,
    crf_form_class,
    crf_initial,
    lab_rows,
)
from hepatrial.web.trial.models import (
    AeProposal,
    AllocationList,
    AllocationSlot,
    AuditEvent,
    DataQuery,
    Deviation,
    FormEntry,
    ReferenceRange,
    Role,
    SafetyAlert,
    Screening,
    Site,
    StoppingRuleTrip,
    Subject,
)
from hepatrial.web.trial.templatetags.trial_tags import json_text

AUDIT_PAGE_ROWS = 500


# --- helpers ---------------------------------------------------------------------------------

def _actor(request) -> Actor:
    return Actor(request.user, route="web")


def _site_tz(site) -> ZoneInfo:
    return ZoneInfo(site.time_zone)


def _screening_or_404(actor: Actor, pk: int) -> Screening:
    return get_object_or_404(Screening.objects.select_related("site"), pk=pk, site__in=visible_sites(actor))


def _subject_or_404(actor: Actor, subject_id: str) -> Subject:
    return get_object_or_404(
        Subject.objects.select_related("site", "screening"), subject_id=subject_id, site__in=visible_sites(actor)
    )


def _consent_state(screening: Screening) -> str:
    """The consent state (services.enrollment.consent_state) in the user's words."""
    state = consent_state(screening)
    if state in ("none", "withdrawn"):
        return _("withdrawn") if state == "withdrawn" else _("none")
    version = active_consent(screening).version
    if state == "reconsent_needed":
        return _("re-consent needed (version %(v)s)") % {"v": version}
    return _("consented (version %(v)s)") % {"v": version}


def _put_errors(form, err: ActionError) -> None:
    """An action's field errors on the form fields they name; the rest on the form."""
    for field, msgs in (err.errors or {}).items():
        for msg in msgs:
            if field in form.fields:
                form.add_error(field, msg)
            else:
                form.add_error(None, f"{field}: {msg}" if field else msg)
    if not err.errors:
        form.add_error(None, err.message)


# --- home ------------------------------------------------------------------------------------

@login_required
def home(request):
    actor = _actor(request)
    sites = visible_sites(actor)
    subjects = [
        {"subject": s, "consent": _consent_state(s.screening), "reconsent": needs_reconsent(s.screening)}
        for s in Subject.objects.filter(site__in=sites).select_related("site", "screening")
    ]
    log = []
    for screening in Screening.objects.filter(site__in=sites).select_related("site", "identity", "subject")[:200]:
        identity = getattr(screening, "identity", None) if sees_identity(actor, screening.site) else None
        log.append({"screening": screening, "identity": identity, "subject": getattr(screening, "subject", None)})
    return render(
        request,
        "trial/home.html",
        {
            "sites": sites,
            "subjects": subjects,
            "log": log,
            "can_screen": any(can(actor, "screen", s) for s in sites),
        },
    )


# --- screening -------------------------------------------------------------------------------

@login_required
def screening_new(request):
    actor = _actor(request)
    sites = [s for s in visible_sites(actor) if can(actor, "screen", s)]
    if not sites:
        raise PermissionDenied(_("Your role does not allow screening."))
    status, error = 200, None
    if request.method == "POST":
        form = ScreeningForm(request.POST, sites=sites)
        rows = lab_rows(request.POST)
        site = next((s for s in sites if str(s.pk) == request.POST.get("site")), sites[0])
        with timezone.override(_site_tz(site)):  # datetime-local inputs are the site's wall time
            valid = form.is_valid()
            valid = all([row.is_valid() for row in rows]) and valid
        if valid:
            labs, row_of_lab = [], []
            for i, row in enumerate(rows):
                if not row.is_empty():
                    labs.append(row.lab())
                    row_of_lab.append(i)
            data = {**form.candidate_base(), "labs": labs}
            try:
                screening = do_screen(actor, site, data, form.identity())
            except Invalid as err:
                apply_candidate_errors(form, rows, row_of_lab, err.errors)
                status, error = err.status, err.message
            except ActionError as err:
                status, error = err.status, err.message
            else:
                messages.success(request, _("Screened: %(summary)s") % {"summary": screening.result.get("summary", "")})
                return redirect("screening_detail", pk=screening.pk)
        else:
            status, error = 422, _("The screening data has errors; nothing was saved.")
    else:
        initial, labs, prefilled_from = _prescreen_prefill(request, actor)
        form = ScreeningForm(sites=sites, initial=initial)
        rows = lab_rows(initial=labs)
        site = next((s for s in sites if str(s.pk) == initial.get("site")), sites[0])
    return render(
        request,
        "trial/screening_new.html",
        {"form": form, "rows": rows, "error": error, "site_tz": site.time_zone,
         "prefilled_from": prefilled_from if request.method == "GET" else None},
        status=status,
    )


def _prescreen_prefill(request, actor: Actor):
    """?prescreen=RUN&person=ID: the initial values of a pre-screening candidate (or none)."""
    from hepatrial.services.prescreen import (
        prescreen_candidate,
        record_view,
        screening_prefill,
    )
    from hepatrial.web.trial.prescreen_views import run_for

    run_id, person = request.GET.get("prescreen", ""), request.GET.get("person", "")
    if not run_id.isdigit() or not person:
        return {}, [], None
    run = run_for(actor, int(run_id))
    candidate = prescreen_candidate(run, person)
    if candidate is None:
        raise Http404(_("No such candidate in this pre-screening."))
    initial, labs = screening_prefill(run, candidate)
    record_view(actor, run, person)
    return initial, labs[:LAB_ROWS], {"run": run, "person": person}


def _render_screening(request, screening: Screening, *, status: int = 200, error: str | None = None,
                      decision_form=None, consent_form=None):  # fmt: skip
    actor = _actor(request)
    site = screening.site
    protocol = current_protocol()
    decision = getattr(screening, "decision", None)
    subject = Subject.objects.filter(screening=screening).first()
    consent = active_consent(screening)
    can_enroll = subject is None and can(actor, "enroll", site) and not enrollment_blockers(screening)
    context = {
        "screening": screening,
        "site": site,
        "result": screening.result,
        "identity": getattr(screening, "identity", None) if sees_identity(actor, site) else None,
        "shows_identity": sees_identity(actor, site),
        "decision": decision,
        "subject": subject,
        "consents": screening.consents.all(),
        "active_consent": consent,
        "consent_state": _consent_state(screening),
        "reconsent": needs_reconsent(screening),
        "current_version": protocol.current_consent_version,
        "can_decide": can(actor, "decide_eligibility", site) and subject is None,
        "can_consent": can(actor, "consent", site),
        "can_enroll": can_enroll,
        "decision_form": decision_form or DecisionForm(),
        "consent_form": consent_form
        or ConsentForm(documents=protocol.consent_documents, current=protocol.current_consent_version),
        "error": error,
    }
    return render(request, "trial/screening_detail.html", context, status=status)


@login_required
def screening_detail(request, pk: int):
    return _render_screening(request, _screening_or_404(_actor(request), pk))


@login_required
@require_POST
def screening_decide(request, pk: int):
    actor = _actor(request)
    screening = _screening_or_404(actor, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _render_screening(request, screening, status=422, decision_form=form, error=_("Choose a decision."))
    try:
        do_decide_eligibility(actor, screening, form.cleaned_data["decision"], form.cleaned_data["reason"])
    except ActionError as err:
        _put_errors(form, err)
        return _render_screening(request, screening, status=err.status, decision_form=form, error=err.message)
    messages.success(request, _("Eligibility decision recorded."))
    return redirect("screening_detail", pk=screening.pk)


@login_required
@require_POST
def screening_consent(request, pk: int):
    actor = _actor(request)
    screening = _screening_or_404(actor, pk)
    protocol = current_protocol()
    form = ConsentForm(request.POST, documents=protocol.consent_documents, current=protocol.current_consent_version)
    with timezone.override(_site_tz(screening.site)):
        valid = form.is_valid()
    if not valid:
        return _render_screening(request, screening, status=422, consent_form=form, error=_("The consent form has errors."))
    try:
        do_record_consent(actor, screening, form.cleaned_data["version"], form.cleaned_data["obtained_at"])
    except ActionError as err:
        _put_errors(form, err)
        return _render_screening(request, screening, status=err.status, consent_form=form, error=err.message)
    messages.success(request, _("Consent recorded."))
    return redirect("screening_detail", pk=screening.pk)


@login_required
@require_POST
def screening_enroll(request, pk: int):
    actor = _actor(request)
    screening = _screening_or_404(actor, pk)
    try:
        subject = do_enroll(actor, screening)
    except ActionError as err:
        return _render_screening(request, screening, status=err.status, error=err.message)
    messages.success(request, _("Enrolled as %(id)s.") % {"id": subject.subject_id})
    return redirect("subject_detail", subject_id=subject.subject_id)


# --- subjects --------------------------------------------------------------------------------

def _render_subject(request, subject: Subject, *, status: int = 200, error: str | None = None, withdraw_form=None):
    actor = _actor(request)
    screening = subject.screening
    prefetch_related_objects([screening], "consents")  # once, for the page's several questions about consent
    consent = active_consent(screening)
    allocation = AllocationSlot.objects.filter(subject=subject).select_related("allocated_by").first()
    may_randomize = can(actor, "randomize", subject.site) and allocation is None
    blockers = randomization_blockers(subject) if may_randomize else []
    entries = list(subject.forms.order_by("pk"))  # all its forms, once, for the grid, the doses and the AEs
    context = {
        "subject": subject,
        "site": subject.site,
        "screening": screening,
        "identity": getattr(screening, "identity", None) if sees_identity(actor, subject.site) else None,
        "consents": screening.consents.all(),
        "active_consent": consent,
        "consent_state": _consent_state(screening),
        "reconsent": needs_reconsent(screening),
        "can_consent": can(actor, "consent", subject.site),
        "withdraw_form": withdraw_form or WithdrawForm(),
        "grid": visit_grid(subject, entries),
        "can_view_audit": can(actor, "view_audit", subject.site),
        # the subject's own allocation only: never the list's order or what remains of it
        "allocation": allocation,
        "dose_calendar": subject_dose_calendar(subject, allocation.arm, entries) if allocation else None,
        "deviations": subject.deviations.select_related("reported_by", "form_entry"),
        "adverse_events": _adverse_events(subject, entries),
        "ae_proposals": subject.ae_proposals.filter(state=AeProposal.State.PROPOSED).select_related("lab_entry"),
        "can_decide_proposals": can(actor, "decide_ae_proposal", subject.site),
        "next_ae": _next_ae_url(subject, entries),
        "dosing_halt": halt_message(halt) if allocation and (halt := dosing_halt()) else None,
        "can_report_deviation": can(actor, "report_deviation", subject.site),
        "can_randomize": may_randomize and not blockers,
        "randomization_blockers": blockers,
        "error": error,
    }
    from hepatrial.web.trial.record_views import record_context  # (it builds on this module)

    context.update(record_context(actor, subject, context["grid"]))
    return render(request, "trial/subject_detail.html", context, status=status)


def _adverse_events(subject: Subject, entries: list[FormEntry]) -> list[dict]:
    """The subject's adverse events (``entries``: all its forms), each with its form's URL."""
    return [{**vars(ae), "url": form_url(subject.subject_id, ae.entry.visit_id, ae.entry.form_id, ae.entry.sequence)}
            for ae in subject_adverse_events(entries)]  # fmt: skip


def _next_ae_url(subject: Subject, entries: list[FormEntry]) -> str | None:
    """Where the next adverse event is entered (``entries``: all the subject's forms); None when the log is full."""
    where = next_adverse_event(entries)
    return form_url(subject.subject_id, where[0], current_protocol().safety.ae_form, where[1]) if where else None


@login_required
@require_POST
def subject_randomize(request, subject_id: str):
    actor = _actor(request)
    subject = _subject_or_404(actor, subject_id)
    try:
        slot = do_randomize(actor, subject)
    except ActionError as err:
        return _render_subject(request, subject, status=err.status, error=err.message)
    messages.success(request, _("%(id)s randomized to %(arm)s.") % {"id": subject.subject_id, "arm": arm_label(slot.arm)})
    return redirect("subject_detail", subject_id=subject.subject_id)


@login_required
def subject_detail(request, subject_id: str):
    return _render_subject(request, _subject_or_404(_actor(request), subject_id))


@login_required
@require_POST
def subject_withdraw(request, subject_id: str):
    actor = _actor(request)
    subject = _subject_or_404(actor, subject_id)
    form = WithdrawForm(request.POST)
    with timezone.override(_site_tz(subject.site)):
        valid = form.is_valid()
    if not valid:
        return _render_subject(request, subject, status=422, withdraw_form=form, error=_("The withdrawal has errors."))
    consent = active_consent(subject.screening)
    if consent is None:
        return _render_subject(request, subject, status=409, withdraw_form=form, error=_("There is no active consent."))
    try:
        do_withdraw_consent(actor, consent, form.cleaned_data["withdrawn_at"], form.cleaned_data["scope"], form.cleaned_data["reason"])
    except ActionError as err:
        _put_errors(form, err)
        return _render_subject(request, subject, status=err.status, withdraw_form=form, error=err.message)
    messages.success(request, _("Consent withdrawal recorded."))
    return redirect("subject_detail", subject_id=subject.subject_id)


# --- eCRF forms ------------------------------------------------------------------------------

def _form_context(subject: Subject, visit_id: str, form_id: str, sequence: int):
    visit, spec = _visit_and_spec(visit_id, form_id, sequence)
    return visit, spec, _entry_of(subject, visit_id, form_id, sequence)


def _visit_and_spec(visit_id: str, form_id: str, sequence: int):
    try:
        visit, spec = visit_and_form(visit_id, form_id)
    except NotFound as err:
        raise Http404(err.message) from None
    if not sequence_allowed(visit, sequence):
        raise Http404(_("The visit has no such form."))
    return visit, spec


def _entry_of(subject: Subject, visit_id: str, form_id: str, sequence: int) -> FormEntry | None:
    entry = (FormEntry.objects.filter(subject=subject, visit_id=visit_id, form_id=form_id, sequence=sequence)
             .select_related("updated_by").first())  # fmt: skip
    if entry is not None:
        entry.subject = subject  # (already loaded, with its site and screening)
    return entry


def _render_form(request, subject, visit, spec, entry, form, sequence, *, status=200, error=None,
                 confirmations=None, raise_form=None, deviation=None, sae_form=None, proposal=None):  # fmt: skip
    actor = _actor(request)
    queries = list(entry.queries.all().order_by("-raised_at")) if entry else []
    open_queries = [q for q in queries if q.state in OPEN_STATES]
    confirmations = confirmations or {}
    by_field: dict[str, list] = {}
    for q in open_queries:
        key = f"{q.field}:{q.check_id}" if q.check_id else ""
        by_field.setdefault(q.field, []).append(
            {"query": q, "key": key, "confirmation": confirmations.get(key, "")}
        )
    rows = [{"field": bf, "queries": by_field.get(bf.name, [])} for bf in form.data_fields()]
    other = [item for f, items in by_field.items() if f not in form.spec_field_ids for item in items]
    lock = lock_on(subject, visit.id, entry)
    may_raise = entry is not None and can(actor, "raise_query", subject.site) and lock is None
    context = {
        "subject": subject,
        "site": subject.site,
        "visit": visit,
        "spec": spec,
        "entry": entry,
        "form": form,
        "rows": rows,
        "other_queries": other,
        "queries": queries,
        "sequence": sequence,
        "can_enter": can(actor, "enter_data", subject.site) and lock is None,
        "lock": (lock, describe_lock(lock)) if lock else None,
        "can_lock_record": entry is not None and lock is None and can(actor, "lock", subject.site),
        "raise_form": raise_form
        or (RaiseQueryForm(field_choices=[(f.id, f.label) for f in spec.fields]) if may_raise else None),
        "can_view_audit": can(actor, "view_audit", subject.site),
        "error": error,
        # an out-of-window dose: {"description", "action", "errors"} of the deviation it needs
        "deviation": deviation,
        "dose_deviations": entry.deviations.all() if entry and is_dosing_form(spec.id) else [],
        "dosing_halt": halt_message(halt) if is_dosing_form(spec.id) and (halt := dosing_halt()) else None,
        "sae": _sae_context(actor, subject, entry, sae_form) if entry and is_ae_form(spec.id) else None,
        "lab_grades": grade_entry(entry) if entry and spec.id == LAB_FORM else None,
        "proposal": proposal,
    }
    return render(request, "trial/form_entry.html", context, status=status)


@login_required
def form_entry(request, subject_id: str, visit_id: str, form_id: str, sequence: int = 1):
    actor = _actor(request)
    subject = _subject_or_404(actor, subject_id)
    visit, spec = _visit_and_spec(visit_id, form_id, sequence)
    form_class = crf_form_class(spec)
    if request.method != "POST":
        entry = _entry_of(subject, visit_id, form_id, sequence)
        initial = crf_initial(spec, entry.data) if entry else {}
        initial.update(version=entry.version if entry else None, visit_date=entry.visit_date if entry else None)
        if entry is None and is_dosing_form(form_id):
            initial.update(dose_initial(subject))
        proposal = _proposal(request.GET.get("proposal"), subject) if entry is None and is_ae_form(form_id) else None
        if proposal is not None:
            initial.update(proposal_initial(proposal))
        with timezone.override(_site_tz(subject.site)):
            form = form_class(initial=initial)
            return _render_form(request, subject, visit, spec, entry, form, sequence, proposal=proposal)

    # A save reads the stored form itself, under its lock: here it is read only to show the page
    # again (errors, a conflict) and to know whether an adverse event is new (from a proposal).
    def entry_now() -> FormEntry | None:
        return _entry_of(subject, visit_id, form_id, sequence)

    posted_proposal = request.POST.get("proposal") if is_ae_form(form_id) else None
    proposal = _proposal(posted_proposal, subject) if posted_proposal and entry_now() is None else None
    with timezone.override(_site_tz(subject.site)):
        form = form_class(request.POST)
        valid = form.is_valid()
    confirmations = {
        key.removeprefix("confirm__"): value.strip()
        for key, value in request.POST.items()
        if key.startswith("confirm__") and value.strip()
    }
    deviation = None
    if is_dosing_form(form_id) and ("deviation_description" in request.POST or "deviation_action" in request.POST):
        deviation = {"description": request.POST.get("deviation_description", ""),
                     "action": request.POST.get("deviation_action", ""), "errors": {}}  # fmt: skip
    # the fields shown but left blank (say, the date was corrected into the window): no deviation
    given_deviation = deviation if deviation and (deviation["description"].strip() or deviation["action"].strip()) else None
    if not valid:
        return _render_form(request, subject, visit, spec, entry_now(), form, sequence, status=422, deviation=deviation, proposal=proposal,
                            error=_("The form has errors; nothing was saved."), confirmations=confirmations)  # fmt: skip
    save = (lambda **kw: do_record_ae_from_proposal(actor, proposal, **kw)) if proposal else (
        lambda **kw: do_save_form(actor, subject, **kw))
    try:
        result = save(
            visit_id=visit_id, form_id=form_id, values=form.values(),
            expected_version=form.cleaned_data["version"],
            visit_date=form.cleaned_data["visit_date"],
            reason=form.cleaned_data["reason"],
            confirmations=confirmations,
            sequence=sequence,
            complete="save_incomplete" not in request.POST,
            deviation=DeviationInput(given_deviation["description"], given_deviation["action"]) if given_deviation else None,
        )  # fmt: skip
    except Conflict:
        error = _("Someone saved this form after you opened it; reload it to see their values. Nothing was saved.")
        return _render_form(request, subject, visit, spec, entry_now(), form, sequence, status=409, error=error,
                            confirmations=confirmations, deviation=deviation)  # fmt: skip
    except ActionError as err:
        if isinstance(err, Invalid):
            about_deviation = {k: v for k, v in (err.errors or {}).items() if k.startswith("deviation")}
            if about_deviation:  # the dose needs a deviation (or its deviation is incomplete)
                deviation = deviation or {"description": "", "action": "", "errors": {}}
                deviation["errors"] = {k.removeprefix("deviation").lstrip(".") or "deviation": v for k, v in about_deviation.items()}
                err.errors = {k: v for k, v in err.errors.items() if k not in about_deviation}
            if err.errors or not about_deviation:
                _put_errors(form, err)
        return _render_form(request, subject, visit, spec, entry_now(), form, sequence, status=err.status, proposal=proposal,
                            error=err.message, confirmations=confirmations, deviation=deviation)  # fmt: skip
    messages.success(request, _("Saved (version %(v)s).") % {"v": result.entry.version})
    if result.opened_queries:
        messages.warning(
            request,
            ngettext(
                "%(n)d value is unusual: it was saved and a data query was opened.",
                "%(n)d values are unusual: they were saved and data queries were opened.",
                len(result.opened_queries),
            )
            % {"n": len(result.opened_queries)},
        )
        for query in result.opened_queries:
            messages.warning(request, query.text)
    return redirect(request.path)


@login_required
@require_POST
def form_raise_query(request, subject_id: str, visit_id: str, form_id: str, sequence: int = 1):
    actor = _actor(request)
    subject = _subject_or_404(actor, subject_id)
    visit, spec, entry = _form_context(subject, visit_id, form_id, sequence)
    if entry is None:
        raise Http404(_("The form has not been entered yet."))
    raise_form = RaiseQueryForm(request.POST, field_choices=[(f.id, f.label) for f in spec.fields])
    if raise_form.is_valid():
        try:
            query = do_raise_query(actor, entry, raise_form.cleaned_data["field"], raise_form.cleaned_data["text"])
        except ActionError as err:
            status, error = err.status, err.message
            _put_errors(raise_form, err)
        else:
            messages.success(request, _("Query raised."))
            return redirect("query_detail", pk=query.pk)
    else:
        status, error = 422, _("The query has errors.")
    form_class = crf_form_class(spec)
    initial = {**crf_initial(spec, entry.data), "version": entry.version, "visit_date": entry.visit_date}
    with timezone.override(_site_tz(subject.site)):
        form = form_class(initial=initial)
        return _render_form(request, subject, visit, spec, entry, form, sequence, status=status, error=error,
                            raise_form=raise_form)  # fmt: skip


# --- the allocation list (statistician, administrator) -----------------------------------

_SLOT_REFERENCE = re.compile(r"(?P<rest>.+)-(?P<sequence>[0-9]{1,9})", re.ASCII)


def _find_slot(reference: str) -> AllocationSlot | None:
    """A slot of the imported list by its reference SITE-STRATUM-SEQUENCE (as the list
    page shows it); site codes and strata may contain '-': the protocol's strata decide."""
    match = _SLOT_REFERENCE.fullmatch((reference or "").strip())
    spec = current_protocol().randomization
    if match is None or spec is None:
        return None
    rest = match["rest"]
    for stratum in sorted(spec.strata, key=len, reverse=True):
        if rest.endswith(f"-{stratum}"):
            return (
                AllocationSlot.objects.select_related("site")
                .filter(allocation_list__protocol_id=current_protocol().id, site__code=rest[: -len(stratum) - 1],
                        stratum=stratum, sequence=int(match["sequence"]))  # fmt: skip
                .first()
            )
    return None


@login_required
def allocation_list(request):
    """The imported list, slot by slot, and its administration. Only the statistician
    and administrators see it (concealment): everyone else gets 403."""
    actor = _actor(request)
    if not can(actor, "view_allocation_list"):
        raise PermissionDenied(_("Only the statistician and administrators see the allocation list."))
    status, error, posted = 200, None, {}
    if request.method == "POST":
        posted = request.POST
        action, reason, typed = posted.get("action", ""), posted.get("reason", ""), posted.get("confirmation", "")
        try:
            slot = _find_slot(posted.get("slot", ""))
            if slot is None:
                raise Invalid(_("No slot %(s)s in the list.") % {"s": posted.get("slot", "")}, field="slot")
            if action == "unavailable":
                do_mark_slot_unavailable(actor, slot, reason, typed)
                done = _("Slot %(s)s taken out of use.")
            elif action == "restore":
                do_restore_slot(actor, slot, reason, typed)
                done = _("Slot %(s)s back in use.")
            elif action == "manual":
                subject = Subject.objects.filter(subject_id=posted.get("subject_id", "").strip()).select_related("site", "screening").first()
                if subject is None:
                    raise Invalid(_("No subject %(s)s.") % {"s": posted.get("subject_id", "")}, field="subject_id")
                form = ManualAllocationForm(posted)
                with timezone.override(_site_tz(subject.site)):
                    valid = form.is_valid()
                if not valid:
                    raise Invalid(_("Give the time of randomization (site time)."), field="randomized_at")
                do_allocate_manually(actor, subject, slot, form.cleaned_data["randomized_at"], reason, typed)
                done = _("Slot %(s)s allocated by hand.")
            else:
                raise Invalid(_("Unknown action."), field="action")
        except ActionError as err:
            status, error = err.status, err.message
        else:
            messages.success(request, done % {"s": posted.get("slot", "").strip()})
            return redirect(request.get_full_path())
    imported = AllocationList.objects.filter(protocol_id=current_protocol().id).first()
    slots = AllocationSlot.objects.filter(allocation_list=imported).select_related("site", "subject", "allocated_by")
    site, stratum = request.GET.get("site", ""), request.GET.get("stratum", "")
    if site:
        slots = slots.filter(site__code=site)
    if stratum:
        slots = slots.filter(stratum=stratum)
    context = {
        "imported": imported, "slots": slots.order_by("site__code", "stratum", "sequence"),
        "sites": Site.objects.all(), "strata": current_protocol().randomization.strata if current_protocol().randomization else [],
        "site_filter": site, "stratum_filter": stratum, "error": error, "posted": posted,
    }  # fmt: skip
    return render(request, "trial/allocation_list.html", context, status=status)


# --- analysis (the statistician) -----------------------------------------------------------

@login_required
def analysis_page(request):
    """The statistician's page: the ADaM datasets to download (and, as it lands, the report)."""
    actor = _actor(request)
    if not can(actor, "export_analysis"):
        raise PermissionDenied(_("Only the statistician and administrators export the analysis datasets."))
    from hepatrial.core.export.adam import DATASETS

    return render(request, "trial/analysis.html", {"datasets": DATASETS})


@login_required
def adam_zip(request):
    """The ADaM datasets as CSV files and their define.xml in one zip, made now from the database."""
    import io
    import tempfile
    import zipfile

    from hepatrial.services.adam_export import export_adam

    actor = _actor(request)
    if not can(actor, "export_analysis"):
        raise PermissionDenied(_("Only the statistician and administrators export the analysis datasets."))
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="hepatrial-adam-") as tmp:
        paths = export_adam(tmp)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths.values():
                archive.write(path, path.name)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{current_protocol().id}-adam-{stamp}.zip"'
    return response


@login_required
def analysis_report(request):
    """The analysis report, made now from the database, as one HTML page to read or save."""
    from hepatrial.services.report import report_from_database

    actor = _actor(request)
    if not can(actor, "export_analysis"):
        raise PermissionDenied(_("Only the statistician and administrators make the analysis report."))
    html, _numbers = report_from_database()
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    if request.GET.get("download"):
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="{current_protocol().id}-report-{stamp}.html"'
    return response


# --- protocol deviations -------------------------------------------------------------------

@login_required
def deviation_new(request, subject_id: str):
    actor = _actor(request)
    subject = _subject_or_404(actor, subject_id)
    if not can(actor, "report_deviation", subject.site):
        raise PermissionDenied(_("Your role does not allow this here."))
    form = DeviationForm(request.POST or None)
    status, error = 200, None
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                do_report_deviation(actor, subject, type=data["type"], occurred_on=data["occurred_on"],
                                    description=data["description"], action=data["action"])  # fmt: skip
            except ActionError as err:
                _put_errors(form, err)
                status, error = err.status, err.message
            else:
                messages.success(request, _("Deviation reported."))
                return redirect("subject_detail", subject_id=subject.subject_id)
        else:
            status, error = 422, _("The deviation has errors; nothing was saved.")
    return render(request, "trial/deviation_new.html", {"subject": subject, "site": subject.site, "form": form, "error": error},
                  status=status)  # fmt: skip


@login_required
def deviation_list(request):
    """The deviations log of the user's sites, newest first (filter: site, type)."""
    actor = _actor(request)
    rows = Deviation.objects.filter(subject__site__in=visible_sites(actor)).select_related(
        "subject", "subject__site", "reported_by", "form_entry"
    )
    site, kind = request.GET.get("site", ""), request.GET.get("type", "")
    if site:
        rows = rows.filter(subject__site__code=site)
    if kind:
        rows = rows.filter(type=kind)
    return render(request, "trial/deviation_list.html", {
        "deviations": rows[:AUDIT_PAGE_ROWS], "total": rows.count(), "limit": AUDIT_PAGE_ROWS, "sites": visible_sites(actor),
        "types": Deviation.Type.choices, "site_filter": site, "type_filter": kind,
    })  # fmt: skip


# --- lab-proposed adverse events, reference ranges ---------------------------------------

def _proposal(pk, subject: Subject) -> AeProposal | None:
    """An undecided proposal of this subject, by its id as a form or link gives it."""
    if not (isinstance(pk, str) and pk.isascii() and pk.isdigit() and len(pk) < 12):
        return None
    return AeProposal.objects.filter(pk=int(pk), subject=subject, state=AeProposal.State.PROPOSED).first()


@login_required
@require_POST
def ae_proposal_dismiss(request, subject_id: str, pk: int):
    actor = _actor(request)
    subject = _subject_or_404(actor, subject_id)
    if not can(actor, "decide_ae_proposal", subject.site):
        raise PermissionDenied(_("Only the site's investigator decides on a proposed adverse event."))
    proposal = get_object_or_404(AeProposal, pk=pk, subject=subject)
    try:
        do_dismiss_proposal(actor, proposal, request.POST.get("reason", ""))
    except ActionError as err:
        if err.status == 403:
            raise PermissionDenied(err.message) from None
        return _render_subject(request, subject, status=err.status, error=err.message)
    messages.success(request, _("Proposal dismissed."))
    return redirect("subject_detail", subject_id=subject.subject_id)


@login_required
def reference_ranges(request):
    """The sites' laboratory reference ranges (what CTCAE grades against); data managers and admins edit them."""
    actor = _actor(request)
    sites = visible_sites(actor)
    form = ReferenceRangeForm(request.POST or None, sites=sites, tests=sorted(LAB_TESTS_GRADED))
    status, error = 200, None
    if request.method == "POST":
        if not can(actor, "manage_reference_ranges"):
            raise PermissionDenied(_("Only data managers and administrators set reference ranges."))
        if form.is_valid():
            data = form.cleaned_data
            site = sites.filter(code=data["site"]).first()
            try:
                if site is None:
                    raise NotFound(_("No such site."))
                do_set_reference_range(actor, site, data["lab_test"], data["sex"], data["lln"], data["uln"], data["source"])
            except ActionError as err:
                if err.status == 403:
                    raise PermissionDenied(err.message) from None
                _put_errors(form, err)
                status, error = err.status, err.message
            else:
                messages.success(request, _("Reference range saved."))
                return redirect("reference_ranges")
        else:
            status, error = 422, _("The range has errors; nothing was saved.")
    ranges = ReferenceRange.objects.filter(site__in=sites).select_related("site", "updated_by").order_by("site__code", "lab_test", "sex")
    return render(request, "trial/reference_ranges.html", {
        "ranges": ranges, "form": form, "error": error, "can_edit": can(actor, "manage_reference_ranges"),
    }, status=status)  # fmt: skip


# --- safety: SAE reports, the dashboard, DSMB decisions ----------------------------------

def _sae_context(actor: Actor, subject: Subject, entry: FormEntry, form=None) -> dict | None:
    clock = sae_clock(entry)
    if clock is None:
        return None
    return {"clock": clock, "reports": entry.sae_reports.select_related("submitted_by"),
            "can_report": can(actor, "report_sae", subject.site), "form": form or SaeReportForm()}  # fmt: skip


@login_required
@require_POST
def sae_report(request, subject_id: str, visit_id: str, form_id: str, sequence: int = 1):
    actor = _actor(request)
    subject = _subject_or_404(actor, subject_id)
    visit, spec, entry = _form_context(subject, visit_id, form_id, sequence)
    if entry is None:
        raise Http404(_("The form has not been entered yet."))
    report_form = SaeReportForm(request.POST)
    if report_form.is_valid():
        try:
            do_submit_sae_report(actor, entry, report_form.cleaned_data["kind"], report_form.cleaned_data["narrative"])
        except ActionError as err:
            status, error = err.status, err.message
            _put_errors(report_form, err)
        else:
            messages.success(request, _("SAE report submitted."))
            return redirect(form_url(subject_id, visit_id, form_id, sequence))
    else:
        status, error = 422, _("The report has errors; nothing was submitted.")
    form_class = crf_form_class(spec)
    initial = {**crf_initial(spec, entry.data), "version": entry.version, "visit_date": entry.visit_date}
    with timezone.override(_site_tz(subject.site)):
        form = form_class(initial=initial)
        return _render_form(request, subject, visit, spec, entry, form, sequence, status=status, error=error, sae_form=report_form)


@login_required
def safety_dashboard(request):
    """Alerts, SAE clocks, the stopping rules with their metrics, trips and the DSMB's decisions, AEs by arm."""
    actor = _actor(request)
    sites = visible_sites(actor)
    protocol = current_protocol()
    spec = protocol.safety
    # comparative interim results (metrics by arm, each rule's values, AEs by arm) are for the DSMB
    # and its liaison; the sites see whether dosing is open, their own events and clocks, and the trips
    comparative = can(actor, "view_comparative_safety")
    metrics, verdicts, aes = comparative_safety() if comparative else ({}, {}, [])
    clocks = sae_clocks(Subject.objects.filter(site__in=sites))
    rules = [{"rule": r, "verdict": verdicts.get(r.id)} for r in (spec.stopping_rules if spec else [])]
    alerts = SafetyAlert.objects.filter(Q(subject__isnull=True) | Q(subject__site__in=sites)).select_related("subject")[:100]
    trips = StoppingRuleTrip.objects.select_related("decision", "decision__recorded_by")
    return render(request, "trial/safety_dashboard.html", {
        "alerts": alerts, "clocks": clocks, "rules": rules,
        "metrics": [(name, m.label, metrics.get(name)) for name, m in (spec.metrics.items() if spec else [])],
        "trips": trips, "halt": halt_message(h) if (h := dosing_halt()) else None,
        "can_decide": can(actor, "record_dsmb_decision"), "decision_form": DsmbDecisionForm(),
        "comparative": comparative,
        "ae_table": (table := ae_counts_by_arm(sites, aes) if comparative else []), "arms": [(a.id, a.label) for a in protocol.arms],
        # charts.py escapes every text it writes
        "ae_chart": mark_safe(ae_grade_bars([(arm_label(r["arm"]) if r["arm"] else _("not randomized"), r["grades"]) for r in table])),
        "sae_chart": mark_safe(sae_timeline(sae_timeline_points(clocks))),
    })  # fmt: skip


@login_required
@require_POST
def dsmb_decision(request, pk: int):
    actor = _actor(request)
    if not can(actor, "record_dsmb_decision"):
        raise PermissionDenied(_("Only a DSMB member, the statistician or an administrator records the DSMB's decision."))
    trip = get_object_or_404(StoppingRuleTrip, pk=pk)
    form = DsmbDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The decision has errors: %(e)s") % {"e": "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())})
        return redirect("safety_dashboard")
    try:
        do_record_dsmb_decision(actor, trip, form.cleaned_data["decision"], form.cleaned_data["decided_on"], form.cleaned_data["reason"])
    except ActionError as err:
        if err.status == 403:
            raise PermissionDenied(err.message) from None
        messages.error(request, err.message)
        return redirect("safety_dashboard")
    messages.success(request, _("The DSMB's decision is recorded."))
    return redirect("safety_dashboard")


def form_url(subject_id: str, visit_id: str, form_id: str, sequence: int = 1) -> str:
    if sequence == 1:
        return reverse("form_entry", args=[subject_id, visit_id, form_id])
    return reverse("form_entry_seq", args=[subject_id, visit_id, form_id, sequence])


# --- queries ---------------------------------------------------------------------------------

@login_required
def query_list(request):
    actor = _actor(request)
    sites = visible_sites(actor)
    protocol = current_protocol()
    filters = QueryFilterForm(request.GET or None, sites=sites, form_choices=[(f.id, f.title) for f in protocol.forms])
    queries = DataQuery.objects.filter(subject__site__in=sites).select_related("subject__site", "form_entry")
    if filters.is_bound and filters.is_valid():
        data = filters.cleaned_data
        if data["site"]:
            queries = queries.filter(subject__site__code=data["site"])
        if data["subject"]:
            queries = queries.filter(subject__subject_id__icontains=data["subject"].strip())
        if data["form"]:
            queries = queries.filter(form_entry__form_id=data["form"])
        if data["state"]:
            queries = queries.filter(state=data["state"])
        if data["min_age_days"] is not None:
            queries = queries.filter(raised_at__lte=timezone.now() - timedelta(days=data["min_age_days"]))
    elif filters.is_bound:
        queries = queries.none()  # a filter that cannot apply (e.g. a site not visible) shows nothing
    now = timezone.now()
    rows = [{"query": q, "age": query_age_days(q, now)} for q in queries[:500]]
    return render(request, "trial/query_list.html", {"filters": filters, "rows": rows})


def _render_query(request, query: DataQuery, *, status=200, error=None, message_form=None):
    actor = _actor(request)
    site = query.subject.site
    entry = query.form_entry
    context = {
        "query": query,
        "site": site,
        "entry": entry,
        "value": entry.data.get(query.field),
        "form_link": form_url(query.subject.subject_id, entry.visit_id, entry.form_id, entry.sequence),
        "thread": query.messages.select_related("author"),
        "can_answer": query.state in OPEN_STATES and can(actor, "answer_query", site),
        "can_close": query.state in OPEN_STATES and can(actor, "close_query", site),
        "can_reopen": query.state in CLOSED_STATES and can(actor, "close_query", site),
        "message_form": message_form or QueryMessageForm(),
        "age": query_age_days(query),
        "error": error,
    }
    return render(request, "trial/query_detail.html", context, status=status)


QUERY_ACTIONS = {"answer": do_answer_query, "close": do_close_query, "reopen": do_reopen_query}


@login_required
def query_detail(request, pk: int):
    actor = _actor(request)
    query = get_object_or_404(
        DataQuery.objects.select_related("subject__site", "form_entry"), pk=pk, subject__site__in=visible_sites(actor)
    )
    if request.method != "POST":
        return _render_query(request, query)
    form = QueryMessageForm(request.POST)
    action = QUERY_ACTIONS.get(request.POST.get("action", ""))
    if action is None or not form.is_valid():
        return _render_query(request, query, status=422, error=_("Unknown action."), message_form=form)
    try:
        action(actor, query, form.cleaned_data["text"])
    except ActionError as err:
        _put_errors(form, err)
        return _render_query(request, query, status=err.status, error=err.message, message_form=form)
    messages.success(request, _("Query updated."))
    return redirect("query_detail", pk=query.pk)


# --- audit trail -----------------------------------------------------------------------------

def _audit_events(request):
    actor = _actor(request)
    sites = [s for s in visible_sites(actor) if can(actor, "view_audit", s)]
    if not sites:
        raise PermissionDenied(_("Your role does not allow reading the audit trail."))
    protocol = current_protocol()
    filters = AuditFilterForm(request.GET or None, form_choices=[(f.id, f.title) for f in protocol.forms])
    events = AuditEvent.objects.filter(site__in=sites)
    if actor.role == Role.ADMIN:  # account events (users, logins, tokens) belong to no site
        events = events | AuditEvent.objects.filter(site__isnull=True)
    events = events.select_related("site")
    if filters.is_bound and filters.is_valid():
        data = filters.cleaned_data
        if data["subject"]:
            events = events.filter(subject_id=data["subject"].strip())
        if data["form"]:
            events = events.filter(field__contains=f"/{data['form']}.")
        if data["field"]:
            name = data["field"].strip()
            events = events.filter(Q(field=name) | Q(field__endswith=f".{name}"))
    elif filters.is_bound:
        events = events.none()
    return filters, events


def _object_label(event: AuditEvent, reveal_slots: bool) -> str:
    """The audited object as shown; an allocation slot's id (its row in the list) only
    to those who may see the list (concealment)."""
    if event.model == "AllocationSlot" and not reveal_slots:
        return _("allocation (concealed)")
    return f"{event.model} {event.object_id}"


@login_required
def audit_list(request):
    filters, events = _audit_events(request)
    reveal = can(_actor(request), "view_allocation_list")
    total = events.count()
    query = urlencode({k: v for k, v in request.GET.items() if v})
    return render(
        request,
        "trial/audit_list.html",
        {"filters": filters, "events": [(e, _object_label(e, reveal)) for e in events[:AUDIT_PAGE_ROWS]], "total": total, "limit": AUDIT_PAGE_ROWS,
         "csv_url": reverse("audit_csv") + (f"?{query}" if query else "")},  # fmt: skip
    )


@login_required
def audit_csv(request):
    _filters, events = _audit_events(request)
    reveal = can(_actor(request), "view_allocation_list")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="hepatrial-audit.csv"'
    writer = csv.writer(response)
    writer.writerow(["at_site_time", "site_time_zone", "at_utc", "user", "route", "action", "object", "subject",
                     "field", "old", "new", "reason"])  # fmt: skip
    utc = ZoneInfo("UTC")
    for e in events.iterator():
        tz = ZoneInfo(e.site.time_zone) if e.site else utc
        writer.writerow([
            _cell(v) for v in (
                e.at.astimezone(tz).isoformat(), str(tz), e.at.astimezone(utc).isoformat(), e.username, e.route,
                e.action, _object_label(e, reveal), e.subject_id, e.field, json_text(e.old), json_text(e.new), e.reason,
            )
        ])  # fmt: skip
    return response


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP CSV injection):
    text starting with = + - @ or a control character gets a leading quote."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class PasswordChange(auth_views.PasswordChangeView):
    """Change one's own password (the demo passwords are printed once); audited."""

    template_name = "trial/password_change.html"
    success_url = reverse_lazy("home")

    def post(self, request, *args, **kwargs):
        # the old password is a password guess like a login's: locked out, refused; wrong, counted
        username = request.user.get_username()
        if (until := locked_out_until(username)) is not None:  # the old password is not even checked
            error = _("Too many failed attempts: locked until %(until)s UTC.") % {"until": f"{until:%H:%M}"}
            form = self.get_form_class()(user=request.user)
            return self.render_to_response(self.get_context_data(form=form, error=error), status=403)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if "old_password" in form.errors:
            record_access("login_failed", username=self.request.user.get_username(), user=self.request.user,
                          detail="wrong old password changing the password")  # fmt: skip
        return super().form_invalid(form)

    def form_valid(self, form):
        response = super().form_valid(form)
        record_access("change_password", username=self.request.user.get_username(), user=self.request.user)
        messages.success(self.request, _("Your password was changed."))
        return response
