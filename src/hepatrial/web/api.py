"""The JSON API (django-ninja), mounted at /api/; OpenAPI at /api/openapi.json.

A thin shell like the views: it authenticates, looks records up within the
caller's visible sites (a record of another site is a 404, so its existence
does not leak), calls a ``services`` action with ``Actor(user, route="api")``
and shapes the answer. It decides nothing clinical and saves no model itself.

Authentication: ``Authorization: Bearer <token>`` (a personal token from
``do_create_token``) or the Django session of a logged-in user, which must send
the CSRF token (``X-CSRFToken`` header) on unsafe methods. No credentials ->
401; an account without a staff profile -> 403.

Every refusal has the body ``{"detail": message, "errors": {field: [messages]}}``
(docs/api.md).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Path, Query, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from hepatrial.services.access import Actor, sees_identity, visible_sites
from hepatrial.services.accounts import user_for_token
from hepatrial.services.dosing import (
    DeviationInput,
    do_report_deviation,
    subject_dose_calendar,
)
from hepatrial.services.enrollment import (
    consent_state,
    do_enroll,
    do_record_consent,
    do_withdraw_consent,
)
from hepatrial.services.errors import ActionError, Invalid, NotAllowed, NotFound
from hepatrial.services.forms import (
    do_save_form,
    form_status,
    visit_and_form,
    visit_grid,
)
from hepatrial.services.protocol import arm_label, current_protocol
from hepatrial.services.queries import (
    do_answer_query,
    do_close_query,
    do_raise_query,
    do_reopen_query,
    query_age_days,
)
from hepatrial.services.randomization import do_randomize
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.services.two_factor import needs_two_factor
from hepatrial.web.api_schemas import (
    ConsentIn,
    ConsentOut,
    DecisionIn,
    DeviationIn,
    DeviationOut,
    DeviationType,
    DoseOut,
    ErrorOut,
    FormIn,
    FormOut,
    FormSaved,
    MeOut,
    QueryIn,
    QueryMessageIn,
    QueryOut,
    QueryRow,
    QueryState,
    ScreeningIn,
    ScreeningOut,
    ScreeningRow,
    SiteOut,
    SubjectOut,
    SubjectRow,
    WithdrawalIn,
)
from hepatrial.web.trial.models import (
    AllocationSlot,
    Consent,
    DataQuery,
    Deviation,
    FormEntry,
    Screening,
    Site,
    Subject,
)

#: Largest id the databases store (a bigger one in a URL is a 422, not a database error).
MAX_ID = 2**63 - 1
MAX_SEQUENCE = 32767  # PositiveSmallIntegerField


# --- authentication ------------------------------------------------------------------------

def _staff(user):
    """The user, if they have a staff profile (a role); otherwise the request is refused (403)."""
    if getattr(user, "staff", None) is None:
        raise NotAllowed(_("This account has no role in the trial."))
    return user


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``. A header that is present but wrong is a 401,
    never a fall-through to the session."""

    def __call__(self, request: HttpRequest):
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _sep, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(message=_("Send the token as 'Authorization: Bearer <token>'."))
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str):
        user = user_for_token(token)
        if user is None:
            raise AuthenticationError(message=_("The token is unknown or revoked."))
        return _staff(user)


class SessionWithCsrf(APIKeyCookie):
    """The Django session of a logged-in user; unsafe methods must pass Django's CSRF check."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        if needs_two_factor(request.user) and not request.user.is_verified():
            raise AuthenticationError(message=_("Finish signing in: enter your authenticator code at /login/code/."))
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, _("CSRF check failed: send the X-CSRFToken header (csrf_token from GET /api/me)."))
        return _staff(request.user)

    def authenticate(self, request: HttpRequest, key: str | None):  # pragma: no cover - __call__ decides
        return request.user if request.user.is_authenticated else None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class JsonWithoutNul(Parser):
    """JSON bodies and query strings, refusing the NUL character (which PostgreSQL
    cannot store or compare) up front, so such input is a 4xx and not a database error."""

    def parse_body(self, request: HttpRequest):
        data = super().parse_body(request)
        if _has_nul(data):
            raise ValueError("text contains a NUL character")  # ninja answers 400 "Cannot parse request body"
        return data

    def parse_querydict(self, data, list_fields, request: HttpRequest):
        parsed = super().parse_querydict(data, list_fields, request)
        bad = sorted(key for key, value in parsed.items() if _has_nul(key) or _has_nul(value))
        if bad:
            raise Invalid(_("The query string has errors."), errors={k: [_("contains a NUL character")] for k in bad})
        return parsed


api = NinjaAPI(
    title="hepatrial API",
    version="1",
    description="Screening, consent, enrollment, eCRF data and data queries of the trial. See docs/api.md.",
    urls_namespace="api",
    auth=[BearerToken(), SessionWithCsrf()],
    parser=JsonWithoutNul(),
)

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


# --- errors --------------------------------------------------------------------------------

def _error(request, status: int, detail: str, errors: dict[str, list[str]] | None = None, **headers):
    response = api.create_response(request, {"detail": detail, "errors": errors or {}}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@api.exception_handler(ActionError)
def _action_error(request, exc: ActionError):
    return _error(request, exc.status, exc.message, exc.errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc: AuthenticationError):
    detail = exc.message if exc.message != "Unauthorized" else _("Log in, or send 'Authorization: Bearer <token>'.")
    return _error(request, 401, detail, WWW_Authenticate='Bearer realm="hepatrial"')


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return _error(request, 404, _("Not found."))


_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}
_PARAM_NAMES = {"payload", "filters"}


def _field_path(loc: list | tuple) -> str:
    """pydantic's ``loc`` as a dotted path without the request part: ["body", "payload", "candidate", "age"] -> "candidate.age"."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in _PARAM_NAMES:
        parts = parts[1:]
    return ".".join(parts) or "__all__"


def _nested(err: Invalid, prefix: str, inside) -> Invalid:
    """``err`` with the field names for which ``inside(name)`` holds prefixed by ``prefix.``."""
    errors = {(f"{prefix}.{k}" if k and k != "__all__" and inside(k) else k): v for k, v in err.errors.items()}
    return Invalid(err.message, errors=errors)


@api.exception_handler(ValidationError)
def _invalid_request(request, exc: ValidationError):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(_field_path(error.get("loc", ())), []).append(error.get("msg", "invalid"))
    detail = _("The request has errors.") if request.method in ("GET", "HEAD") else _("The request has errors; nothing was saved.")
    return _error(request, 422, detail, errors)


# --- lookups within the caller's sites ------------------------------------------------------

def _actor(request) -> Actor:
    return Actor(request.auth, route="api")


def _site(actor: Actor, code: str) -> Site:
    site = visible_sites(actor).filter(code=code).first()
    if site is None:
        raise NotFound(_("No such site."), field="site")
    return site


def _sites(actor: Actor, code: str | None) -> QuerySet[Site]:
    return visible_sites(actor).filter(pk=_site(actor, code).pk) if code else visible_sites(actor)


def _screening(actor: Actor, pk: int) -> Screening:
    return get_object_or_404(Screening.objects.select_related("site"), pk=pk, site__in=visible_sites(actor))


def _subject(actor: Actor, subject_id: str, *related: str) -> Subject:
    """The subject, within the caller's sites; ``related``: more to load in the same query."""
    if "\x00" in subject_id:  # from the URL path: no subject id has one (and PostgreSQL cannot compare it)
        raise Http404
    return get_object_or_404(
        Subject.objects.select_related("site", "screening", *related), subject_id=subject_id, site__in=visible_sites(actor)
    )


def _query(actor: Actor, pk: int) -> DataQuery:
    return get_object_or_404(
        DataQuery.objects.select_related("subject__site", "form_entry", "raised_by"),
        pk=pk,
        subject__site__in=visible_sites(actor),
    )


# --- shaping answers ------------------------------------------------------------------------

def _name(user) -> str | None:
    return user.get_username() if user is not None else None


def _identity(actor: Actor, screening: Screening) -> dict | None:
    if not sees_identity(actor, screening.site):
        return None
    person = getattr(screening, "identity", None)
    if person is None:
        return None
    return {"name": person.name, "hospital_record_number": person.hospital_record_number, "phone": person.phone}


def _utc(moment):
    """Every date-time the API answers with is in UTC (as stored), whatever offset it was sent with."""
    return moment.astimezone(UTC) if moment is not None else None


def _consent_out(consent: Consent) -> dict:
    return {
        "id": consent.pk,
        "screening_id": consent.screening_id,
        "version": consent.version,
        "obtained_at": _utc(consent.obtained_at),
        "obtained_by": _name(consent.obtained_by),
        "recorded_at": consent.recorded_at,
        "withdrawn_at": _utc(consent.withdrawn_at),
        "withdrawal_scope": consent.withdrawal_scope,
    }


def _screening_row(screening: Screening) -> dict:
    decision = getattr(screening, "decision", None)
    subject = getattr(screening, "subject", None)
    return {
        "id": screening.pk,
        "site": screening.site.code,
        "screened_at": screening.screened_at,
        "age": screening.age,
        "sex": screening.sex,
        "verdict": screening.verdict,
        "failing": screening.failing,
        "decision": decision.decision if decision else None,
        "subject_id": subject.subject_id if subject else None,
    }


def _screening_out(actor: Actor, screening: Screening) -> dict:
    screening = Screening.objects.select_related("site", "screened_by").get(pk=screening.pk)
    decision = getattr(screening, "decision", None)
    return {
        **_screening_row(screening),
        "protocol_id": screening.protocol_id,
        "assessed_at": screening.assessed_at,
        "screened_by": _name(screening.screened_by),
        "candidate": screening.candidate,
        "result": screening.result,
        "identity": _identity(actor, screening),
        "consents": [_consent_out(c) for c in screening.consents.select_related("obtained_by")],
        "consent_state": consent_state(screening),
        "decision_detail": {
            "decision": decision.decision,
            "reason": decision.reason,
            "decided_by": _name(decision.decided_by),
            "decided_at": decision.decided_at,
        }
        if decision
        else None,
    }


def _subject_row(subject: Subject) -> dict:
    return {
        "subject_id": subject.subject_id,
        "site": subject.site.code,
        "enrolled_at": subject.enrolled_at,
        "anchor_date": subject.anchor_date,
        "consent_state": consent_state(subject.screening),
    }


def _subject_out(actor: Actor, subject: Subject, allocation: AllocationSlot | None = None) -> dict:
    """The subject with its visit grid; ``allocation``: its slot, when the caller has it at hand."""
    visits = []
    for row in visit_grid(subject):
        planned = row.planned
        visits.append({
            "visit_id": row.visit_id,
            "label": row.label,
            "kind": row.kind,
            "day": planned.day if planned else None,
            "target": planned.target if planned else None,
            "earliest": planned.earliest if planned else None,
            "latest": planned.latest if planned else None,
            "forms": [
                {"form_id": c.form_id, "title": c.title, "status": c.status, "version": c.entry.version if c.entry else None}
                for c in row.cells
            ],
        })  # fmt: skip
    return {
        **_subject_row(subject),
        "screening_id": subject.screening_id,
        "identity": _identity(actor, subject.screening),
        "consents": [_consent_out(c) for c in subject.screening.consents.select_related("obtained_by")],
        "visits": visits,
        "allocation": _allocation_out(subject, allocation),
    }


def _allocation_out(subject: Subject, slot: AllocationSlot | None = None) -> dict | None:
    """The arm, never the slot's position in the list (concealment)."""
    if slot is None:
        slot = AllocationSlot.objects.filter(subject=subject).select_related("allocated_by").first()
    if slot is None:
        return None
    return {"arm": slot.arm, "arm_label": arm_label(slot.arm), "allocated_at": slot.allocated_at,
            "allocated_by": slot.allocated_by.get_username()}  # fmt: skip


def _form_out(subject: Subject, visit_id: str, form_id: str, sequence: int) -> dict:
    entry = FormEntry.objects.filter(subject=subject, visit_id=visit_id, form_id=form_id, sequence=sequence).first()
    queries = entry.queries.order_by("raised_at", "pk") if entry else []
    return {
        "subject_id": subject.subject_id,
        "visit_id": visit_id,
        "form_id": form_id,
        "sequence": sequence,
        "status": form_status(entry),
        "version": entry.version if entry else None,
        "visit_date": entry.visit_date if entry else None,
        "data": entry.data if entry else {},
        "queries": [
            {"id": q.pk, "field": q.field, "check_id": q.check_id, "state": q.state, "text": q.text} for q in queries
        ],
    }


def _query_row(query: DataQuery, now=None) -> dict:
    entry = query.form_entry
    return {
        "id": query.pk,
        "site": query.subject.site.code,
        "subject_id": query.subject.subject_id,
        "visit_id": entry.visit_id,
        "form_id": entry.form_id,
        "sequence": entry.sequence,
        "field": query.field,
        "check_id": query.check_id,
        "state": query.state,
        "text": query.text,
        "raised_by": _name(query.raised_by),
        "raised_at": query.raised_at,
        "updated_at": query.updated_at,
        "age_days": query_age_days(query, now),
    }


def _query_out(query: DataQuery) -> dict:
    query = DataQuery.objects.select_related("subject__site", "form_entry", "raised_by").get(pk=query.pk)
    return {
        **_query_row(query),
        "value": query.form_entry.data.get(query.field),
        "messages": [
            {"at": m.at, "kind": m.kind, "author": _name(m.author), "text": m.text}
            for m in query.messages.select_related("author")
        ],
    }


# --- who and where -------------------------------------------------------------------------

@api.get("/me", response={200: MeOut, **ERRORS}, tags=["account"])
def me(request):
    """The caller: user name, role and the sites whose records they can read. With session
    authentication, ``csrf_token`` is the value to send as ``X-CSRFToken`` on unsafe methods."""
    actor = _actor(request)
    session = not request.headers.get("Authorization") and request.user.is_authenticated
    return {
        "username": actor.user.get_username(),
        "role": actor.role,
        "sites": [s.code for s in visible_sites(actor)],
        "csrf_token": get_token(request) if session else None,
    }


@api.get("/sites", response={200: list[SiteOut], **ERRORS}, tags=["account"])
def sites(request):
    """The sites whose records the caller can read."""
    return list(visible_sites(_actor(request)).order_by("code"))


# --- screening, consent, enrollment ---------------------------------------------------------

@api.get("/screenings", response={200: list[ScreeningRow], **ERRORS}, tags=["screening"])
def screening_log(request, site: str | None = None):
    """The anonymous screening log of the caller's sites (newest first); ``site`` narrows it to one site."""
    actor = _actor(request)
    rows = Screening.objects.filter(site__in=_sites(actor, site)).select_related("site", "decision", "subject")
    return [_screening_row(s) for s in rows]


@api.get("/screenings/{screening_id}", response={200: ScreeningOut, **ERRORS}, tags=["screening"])
def screening_detail(request, screening_id: int = Path(..., ge=1, le=MAX_ID)):
    """One screening with its criteria, scores, decision and consents; identity for the own site's staff only."""
    actor = _actor(request)
    return _screening_out(actor, _screening(actor, screening_id))


@api.post("/screenings", response={201: ScreeningOut, **ERRORS}, tags=["screening"])
def screening_create(request, payload: ScreeningIn):
    """Screen a candidate at a site: the protocol's criteria run and the result joins the screening log."""
    actor = _actor(request)
    identity = payload.identity.model_dump() if payload.identity else None
    site = _site(actor, payload.site)
    try:
        screening = do_screen(actor, site, payload.candidate, identity)
    except Invalid as err:  # the candidate's paths, as paths in this request's body
        raise _nested(err, "candidate", lambda key: True) from None
    return Status(201, _screening_out(actor, screening))


@api.post("/screenings/{screening_id}/decision", response={200: ScreeningOut, **ERRORS}, tags=["screening"])
def screening_decision(request, payload: DecisionIn, screening_id: int = Path(..., ge=1, le=MAX_ID)):
    """The investigator's eligibility decision: confirmed, overridden (with a reason) or not_eligible."""
    actor = _actor(request)
    screening = _screening(actor, screening_id)
    do_decide_eligibility(actor, screening, payload.decision, payload.reason)
    return _screening_out(actor, screening)


@api.post("/screenings/{screening_id}/consents", response={201: ConsentOut, **ERRORS}, tags=["screening"])
def screening_consent(request, payload: ConsentIn, screening_id: int = Path(..., ge=1, le=MAX_ID)):
    """Record informed consent to a document version of the protocol."""
    actor = _actor(request)
    consent = do_record_consent(actor, _screening(actor, screening_id), payload.version, payload.obtained_at)
    return Status(201, _consent_out(consent))


@api.post("/consents/{consent_id}/withdrawal", response={200: ConsentOut, **ERRORS}, tags=["screening"])
def consent_withdrawal(request, payload: WithdrawalIn, consent_id: int = Path(..., ge=1, le=MAX_ID)):
    """Withdraw a consent: no further treatment, or no further data and treatment."""
    actor = _actor(request)
    consent = get_object_or_404(Consent, pk=consent_id, screening__site__in=visible_sites(actor))
    consent = do_withdraw_consent(actor, consent, payload.withdrawn_at, payload.scope, payload.reason)
    return _consent_out(consent)


@api.post("/screenings/{screening_id}/enroll", response={201: SubjectOut, **ERRORS}, tags=["screening"])
def screening_enroll(request, screening_id: int = Path(..., ge=1, le=MAX_ID)):
    """Enroll a confirmed-eligible, consented candidate: the answer is the new subject."""
    actor = _actor(request)
    subject = do_enroll(actor, _screening(actor, screening_id))
    return Status(201, _subject_out(actor, _subject(actor, subject.subject_id)))


# --- subjects and eCRF forms ----------------------------------------------------------------

@api.get("/subjects", response={200: list[SubjectRow], **ERRORS}, tags=["subjects"])
def subject_list(request, site: str | None = None):
    """The enrolled subjects of the caller's sites; ``site`` narrows it to one site."""
    actor = _actor(request)
    rows = Subject.objects.filter(site__in=_sites(actor, site)).select_related("site", "screening")
    return [_subject_row(s) for s in rows]


@api.get("/subjects/{subject_id}", response={200: SubjectOut, **ERRORS}, tags=["subjects"])
def subject_detail(request, subject_id: str):
    """One subject with the visit grid: planned dates (target, window) and the status of every form."""
    actor = _actor(request)
    return _subject_out(actor, _subject(actor, subject_id))


@api.post("/subjects/{subject_id}/randomize", response={201: SubjectOut, **ERRORS}, tags=["subjects"])
def subject_randomize(request, subject_id: str):
    """Randomize the subject: the next concealed assignment of their site and stratum (the answer is the subject, with its arm)."""
    actor = _actor(request)
    # what the answer needs besides, in the same query (eligibility and consent are read by the action, in its transaction)
    subject = _subject(actor, subject_id, "screening__site", "screening__identity")
    slot = do_randomize(actor, subject)  # sets subject.anchor_date (day 0) as saved: no re-read
    return Status(201, _subject_out(actor, subject, allocation=slot))


FORM_PATH = "/subjects/{subject_id}/visits/{visit_id}/forms/{form_id}"


@api.get(FORM_PATH, response={200: FormOut, **ERRORS}, tags=["subjects"])
def form_read(request, subject_id: str, visit_id: str, form_id: str,
              sequence: int = Query(1, ge=1, le=MAX_SEQUENCE)):  # fmt: skip
    """One eCRF of one visit: data, version (send it back as expected_version), status, visit date, queries."""
    actor = _actor(request)
    subject = _subject(actor, subject_id)
    visit_and_form(visit_id, form_id)
    return _form_out(subject, visit_id, form_id, sequence)


@api.put(FORM_PATH, response={200: FormSaved, **ERRORS}, tags=["subjects"])
def form_save(request, subject_id: str, visit_id: str, form_id: str, payload: FormIn,
              sequence: int = Query(1, ge=1, le=MAX_SEQUENCE)):  # fmt: skip
    """Save one eCRF. Hard errors -> 422 and nothing saved; a changed value needs ``reason``;
    a stale ``expected_version`` -> 409; soft warnings save and open queries unless confirmed."""
    actor = _actor(request)
    subject = _subject(actor, subject_id)
    try:
        result = _save_form(actor, subject, visit_id, form_id, payload, sequence)
    except Invalid as err:  # form field ids, as paths in this request's body
        fields = set(payload.values)
        with suppress(KeyError):
            fields |= {f.id for f in current_protocol().form(form_id).fields}
        raise _nested(err, "values", fields.__contains__) from None
    return {
        "version": result.entry.version,
        "status": form_status(result.entry),
        "warnings": [{"field": w.field, "code": w.code, "message": w.message} for w in result.warnings],
        "opened_queries": [q.pk for q in result.opened_queries],
    }


def _save_form(actor, subject, visit_id, form_id, payload: FormIn, sequence: int):
    return do_save_form(
        actor, subject, visit_id, form_id, payload.values,
        expected_version=payload.expected_version,
        visit_date=payload.visit_date,
        reason=payload.reason,
        confirmations=payload.confirmations,
        sequence=sequence,
        complete=payload.complete,
        deviation=DeviationInput(payload.deviation.description, payload.deviation.action) if payload.deviation else None,
    )  # fmt: skip


# --- data queries ---------------------------------------------------------------------------

@api.get("/queries", response={200: list[QueryRow], **ERRORS}, tags=["queries"])
def query_list(
    request,
    site: str | None = None,
    subject: str | None = None,
    form: str | None = None,
    state: QueryState | None = None,
    min_age_days: int | None = Query(None, ge=0, le=36500),
):
    """Data queries of the caller's sites, newest first, filtered by site, subject id, form id,
    state, and minimum age in days."""
    actor = _actor(request)
    queries = DataQuery.objects.filter(subject__site__in=_sites(actor, site)).select_related(
        "subject__site", "form_entry", "raised_by"
    )
    if subject:
        queries = queries.filter(subject__subject_id=subject)
    if form:
        queries = queries.filter(form_entry__form_id=form)
    if state:
        queries = queries.filter(state=state)
    now = timezone.now()
    if min_age_days is not None:
        queries = queries.filter(raised_at__lte=now - timedelta(days=min_age_days))
    return [_query_row(q, now) for q in queries]


@api.get("/queries/{query_id}", response={200: QueryOut, **ERRORS}, tags=["queries"])
def query_detail(request, query_id: int = Path(..., ge=1, le=MAX_ID)):
    """One data query with the field's current value and the message thread."""
    return _query_out(_query(_actor(request), query_id))


@api.post("/queries", response={201: QueryOut, **ERRORS}, tags=["queries"])
def query_raise(request, payload: QueryIn):
    """Raise a query on one field of a saved form (monitor, data manager)."""
    actor = _actor(request)
    subject = _subject(actor, payload.subject_id)
    visit_and_form(payload.visit_id, payload.form_id)
    entry = FormEntry.objects.filter(
        subject=subject, visit_id=payload.visit_id, form_id=payload.form_id, sequence=payload.sequence
    ).first()
    if entry is None:
        raise NotFound(_("The form has not been entered yet."))
    return Status(201, _query_out(do_raise_query(actor, entry, payload.field, payload.text)))


def _transition(action: Any, doc: str):
    def endpoint(request, payload: QueryMessageIn, query_id: int = Path(..., ge=1, le=MAX_ID)):
        actor = _actor(request)
        return _query_out(action(actor, _query(actor, query_id), payload.text))

    endpoint.__doc__ = doc
    endpoint.__name__ = f"query_{action.__name__.removeprefix('do_').removesuffix('_query')}"
    return endpoint


for _verb, _action, _doc in [
    ("answer", do_answer_query, "Answer an open query (site staff); text required."),
    ("close", do_close_query, "Close an open or answered query (monitor, data manager); text optional."),
    ("reopen", do_reopen_query, "Reopen a closed query (monitor, data manager); text required."),
]:
    api.post(f"/queries/{{query_id}}/{_verb}", response={200: QueryOut, **ERRORS}, tags=["queries"])(
        _transition(_action, _doc)
    )


# --- dosing and protocol deviations ---------------------------------------------------------

@api.get("/subjects/{subject_id}/doses", response={200: list[DoseOut], **ERRORS}, tags=["subjects"])
def subject_doses(request, subject_id: str):
    """The dosing calendar from day 0: each dose's window and status (empty before randomization).
    Record a dose with the dosing form (PUT .../visits/{visit_id}/forms/dosing)."""
    actor = _actor(request)
    calendar = subject_dose_calendar(_subject(actor, subject_id)) or []
    return [
        {"number": d.number, "visit_id": d.visit_id, "label": d.planned.label, "target": d.planned.target,
         "earliest": d.planned.earliest, "latest": d.planned.latest, "status": d.status, "dose_date": d.dose_date,
         "window": d.window}  # fmt: skip
        for d in calendar
    ]


def _deviation_out(d: Deviation) -> dict:
    return {
        "id": d.pk, "subject_id": d.subject.subject_id, "site": d.subject.site.code, "type": d.type,
        "type_label": d.get_type_display(), "occurred_on": d.occurred_on, "description": d.description,
        "action": d.action, "form": f"{d.form_entry.visit_id}/{d.form_entry.form_id}" if d.form_entry else None,
        "reported_by": d.reported_by.get_username(), "reported_at": d.reported_at,
    }  # fmt: skip


@api.get("/deviations", response={200: list[DeviationOut], **ERRORS}, tags=["deviations"])
def deviation_list(request, site: str | None = None, subject: str | None = None, type: DeviationType | None = None):
    """The protocol deviations of the caller's sites, newest first, filtered by site, subject id and type."""
    actor = _actor(request)
    rows = Deviation.objects.filter(subject__site__in=_sites(actor, site)).select_related(
        "subject", "subject__site", "reported_by", "form_entry"
    )
    if subject:
        rows = rows.filter(subject__subject_id=subject)
    if type:
        rows = rows.filter(type=type)
    return [_deviation_out(d) for d in rows]


@api.post("/subjects/{subject_id}/deviations", response={201: DeviationOut, **ERRORS}, tags=["deviations"])
def deviation_create(request, subject_id: str, payload: DeviationIn):
    """Report a protocol deviation of the subject (site coordinator, investigator)."""
    actor = _actor(request)
    made = do_report_deviation(actor, _subject(actor, subject_id), type=payload.type, occurred_on=payload.occurred_on,
                               description=payload.description, action=payload.action)  # fmt: skip
    return Status(201, _deviation_out(made))


# --- mounting: urls.py has path("api/", include("hepatrial.web.api")) -------------------------

urlpatterns, _ninja, app_name = api.urls  # app_name "api" is also the namespace
