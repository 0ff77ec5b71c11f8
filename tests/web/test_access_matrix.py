"""Who may call what: one table of persona x route x method -> HTTP status, for
every API endpoint and every web page.

Targets are records of site A (SYSU3) unless the path names a site-B record
(``{screening_b}``, ``{subject_b}``, ``{query_b}``). The rules the table
encodes: staff of another site get 404 (a record's existence never leaks),
monitors read but never write data (403), statisticians, data managers and
administrators read every site but see no identifying details, only the site's
own coordinator and investigator do; anonymous callers get 401 from the API
and a redirect to the login page from the web.

The table must cover every named route Django resolves: a new route with no
row fails ``test_every_route_has_a_row``; a row for a route that does not
exist (yet) is skipped.
"""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import example
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve
from django.utils import timezone
from personas import PASSWORD, Personas, SignedInClient, make_personas

from hepatrial.services.access import Actor
from hepatrial.services.accounts import SYSTEM, do_create_staff
from hepatrial.services.enrollment import do_enroll, do_record_consent
from hepatrial.services.forms import do_save_form
from hepatrial.services.locks import do_lock
from hepatrial.services.queries import do_close_query, do_raise_query
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.models import PrescreenRun, Role

PERSONAS = ("coordinator_a", "coordinator_b", "investigator_a", "monitor_a", "data_manager", "statistician", "admin", "anonymous")
#: The name of every person screened at a site in the world below -> the personas who may read it.
NAME = {"a": "Zhang San", "b": "Li Si"}
IDENTITY_READERS = {"Zhang San": {"coordinator_a", "investigator_a"}, "Li Si": {"coordinator_b"}}

# Bodies: functions of the world (w) so they can name its records.
SCREEN = lambda w: {"site": "SYSU3", "candidate": example("eligible-aclf"), "identity": {"name": NAME["a"]}}  # noqa: E731
DECIDE = lambda w: {"decision": "confirmed", "reason": ""}  # noqa: E731
CONSENT = lambda w: {"version": "1.0", "obtained_at": w["past"].isoformat()}  # noqa: E731
WITHDRAW = lambda w: {"withdrawn_at": w["now"].isoformat(), "scope": "no_further_treatment", "reason": "wish"}  # noqa: E731
FORM = lambda w: {"values": w["lab_values"], "expected_version": 1, "visit_date": w["day0"]}  # noqa: E731
RAISE = lambda w: {"subject_id": "SYSU3-001", "visit_id": "day_0", "form_id": "lab_panel", "field": "inr", "text": "1.8?"}  # noqa: E731
TEXT = lambda w: {"text": "Checked against the source"}  # noqa: E731
# Web form posts (site wall time, as the browser's datetime-local inputs send it).
W_DECIDE = lambda w: {"decision": "confirmed", "reason": ""}  # noqa: E731
W_CONSENT = lambda w: {"version": "1.0", "obtained_at": w["past_local"]}  # noqa: E731
W_WITHDRAW = lambda w: {"withdrawn_at": w["now_local"], "scope": "no_further_treatment", "reason": "wish"}  # noqa: E731
W_FORM = lambda w: {**w["lab_form"], "version": "1", "visit_date": w["day0"], "reason": ""}  # noqa: E731
W_RAISE = lambda w: {"field": "inr", "text": "1.8?"}  # noqa: E731
W_ANSWER = lambda w: {"action": "answer", "text": "Checked against the source"}  # noqa: E731
W_SLOT = lambda w: {"action": "unavailable", "slot": "SYSU3-ACLF-1", "reason": "opened", "confirmation": "SYSU3-ACLF-1"}  # noqa: E731
W_RANGE = lambda w: {"site": "SYSU3", "lab_test": "alt", "sex": "any", "uln": "35", "source": "lab manual 2025"}  # noqa: E731
W_DISMISS = lambda w: {"reason": "expected fluctuation"}  # noqa: E731
W_DSMB = lambda w: {"decision": "continue", "decided_on": w["day0"], "reason": "acceptable"}  # noqa: E731
W_SAE = lambda w: {"kind": "initial", "narrative": "x"}  # noqa: E731
W_PRESCREEN = lambda w: {"source": "no-such-source", "site": w["site_a"]}  # noqa: E731
W_SIGN = lambda w: {"visit_id": "day_0", "meaning": "approval", "password": PASSWORD}  # noqa: E731
W_LOCK = lambda w: {"scope": "visit", "visit_id": "day_7", "reason": "source data verified"}  # noqa: E731
W_REASON = lambda w: {"reason": "final lock"}  # noqa: E731
W_CODE = lambda w: {"code": "000000"}  # noqa: E731
DEVIATION = lambda w: {"type": "other", "occurred_on": w["day0"], "description": "Visit missed", "action": "Rescheduled"}  # noqa: E731

F_A = "subjects/{subject}/visits/day_0/lab_panel"
U_A = "subjects/{subject}/visits/unscheduled/lab_panel"  # a repeatable (unscheduled) visit
FA = "/api/subjects/{subject}/visits/day_0/forms/lab_panel"

# fmt: off
#        route name              method  path                                     body        coord_a coord_b inv_a mon_a  dm  stat admin anon
MATRIX = [
    # --- the JSON API -----------------------------------------------------------------------------------------------
    ("api:openapi-json",         "GET",  "/api/openapi.json",                     None,       (200, 200, 200, 200, 200, 200, 200, 200)),
    ("api:openapi-view",         "GET",  "/api/docs",                             None,       (200, 200, 200, 200, 200, 200, 200, 200)),
    ("api:api-root",             "GET",  "/api/",                                 None,       (404, 404, 404, 404, 404, 404, 404, 404)),
    ("api:me",                   "GET",  "/api/me",                               None,       (200, 200, 200, 200, 200, 200, 200, 401)),
    ("api:sites",                "GET",  "/api/sites",                            None,       (200, 200, 200, 200, 200, 200, 200, 401)),
    ("api:screening_log",        "GET",  "/api/screenings",                       None,       (200, 200, 200, 200, 200, 200, 200, 401)),
    ("api:screening_log",        "GET",  "/api/screenings?site=SYSU3",            None,       (200, 404, 200, 200, 200, 200, 200, 401)),
    ("api:screening_create",     "POST", "/api/screenings",                       SCREEN,     (201, 404, 201, 403, 403, 403, 403, 401)),
    ("api:screening_detail",     "GET",  "/api/screenings/{new}",                 None,       (200, 404, 200, 200, 200, 200, 200, 401)),
    ("api:screening_detail",     "GET",  "/api/screenings/{screening_b}",         None,       (404, 200, 404, 404, 200, 200, 200, 401)),
    ("api:screening_decision",   "POST", "/api/screenings/{new}/decision",        DECIDE,     (403, 404, 200, 403, 403, 403, 403, 401)),
    ("api:screening_consent",    "POST", "/api/screenings/{ready}/consents",      CONSENT,    (201, 404, 201, 403, 403, 403, 403, 401)),
    ("api:consent_withdrawal",   "POST", "/api/consents/{consent}/withdrawal",    WITHDRAW,   (200, 404, 200, 403, 403, 403, 403, 401)),
    ("api:screening_enroll",     "POST", "/api/screenings/{ready}/enroll",        None,       (201, 404, 201, 403, 403, 403, 403, 401)),
    ("api:subject_list",         "GET",  "/api/subjects",                         None,       (200, 200, 200, 200, 200, 200, 200, 401)),
    ("api:subject_detail",       "GET",  "/api/subjects/{subject}",               None,       (200, 404, 200, 200, 200, 200, 200, 401)),
    ("api:subject_detail",       "GET",  "/api/subjects/{subject_b}",             None,       (404, 200, 404, 404, 200, 200, 200, 401)),
    # no allocation list in this world: allowed roles get the refusal (400), others 403/404
    ("api:subject_randomize",    "POST", "/api/subjects/{subject}/randomize",     {},         (400, 404, 400, 403, 403, 403, 403, 401)),
    ("api:form_read",            "GET",  FA,                                      None,       (200, 404, 200, 200, 200, 200, 200, 401)),
    ("api:form_save",            "PUT",  FA,                                      FORM,       (200, 404, 200, 403, 403, 403, 403, 401)),
    # not randomized in this world: an empty calendar
    ("api:subject_doses",        "GET",  "/api/subjects/{subject}/doses",         None,       (200, 404, 200, 200, 200, 200, 200, 401)),
    ("api:deviation_list",       "GET",  "/api/deviations",                       None,       (200, 200, 200, 200, 200, 200, 200, 401)),
    ("api:deviation_create",     "POST", "/api/subjects/{subject}/deviations",    DEVIATION,  (201, 404, 201, 403, 403, 403, 403, 401)),
    ("api:query_list",           "GET",  "/api/queries",                          None,       (200, 200, 200, 200, 200, 200, 200, 401)),
    ("api:query_detail",         "GET",  "/api/queries/{query}",                  None,       (200, 404, 200, 200, 200, 200, 200, 401)),
    ("api:query_detail",         "GET",  "/api/queries/{query_b}",                None,       (404, 200, 404, 404, 200, 200, 200, 401)),
    ("api:query_raise",          "POST", "/api/queries",                          RAISE,      (403, 404, 403, 201, 201, 403, 403, 401)),
    ("api:query_answer",         "POST", "/api/queries/{query}/answer",           TEXT,       (200, 404, 200, 403, 403, 403, 403, 401)),
    ("api:query_close",          "POST", "/api/queries/{query}/close",            TEXT,       (403, 404, 403, 200, 200, 403, 403, 401)),
    ("api:query_reopen",         "POST", "/api/queries/{closed_query}/reopen",    TEXT,       (403, 404, 403, 200, 200, 403, 403, 401)),
    # --- the web pages ----------------------------------------------------------------------------------------------
    ("login",                    "GET",  "/login/",                               None,       (200, 200, 200, 200, 200, 200, 200, 200)),
    ("logout",                   "GET",  "/logout/",                              None,       (405, 405, 405, 405, 405, 405, 405, 405)),
    ("logout",                   "POST", "/logout/",                              {},         (302, 302, 302, 302, 302, 302, 302, 302)),
    # the second sign-in step: those who need no code, or gave it, are sent on (home; anonymous to the login page)
    ("two_factor_verify",        "GET",  "/login/code/",                          None,       (302, 302, 302, 302, 302, 302, 302, 302)),
    ("two_factor_verify",        "POST", "/login/code/",                          W_CODE,     (302, 302, 302, 302, 302, 302, 302, 302)),
    # says whether the role uses a second factor and, once set up, that it is on
    ("two_factor_setup",         "GET",  "/two-factor/",                          None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("two_factor_setup",         "POST", "/two-factor/",                          W_CODE,     (200, 200, 200, 200, 200, 200, 200, 302)),
    ("password_change",          "GET",  "/password/",                            None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("password_change",          "POST", "/password/",                            {},         (200, 200, 200, 200, 200, 200, 200, 302)),
    ("home",                     "GET",  "/",                                     None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("screening_new",            "GET",  "/screenings/new/",                      None,       (200, 200, 200, 403, 403, 403, 403, 302)),
    ("prescreen",                "GET",  "/prescreen/",                           None,       (200, 200, 200, 403, 403, 403, 403, 302)),
    ("prescreen",                "POST", "/prescreen/",                           W_PRESCREEN, (422, 422, 422, 403, 403, 403, 403, 302)),
    ("prescreen_run",            "GET",  "/prescreen/{prescreen_run}/",           None,       (200, 404, 200, 403, 403, 403, 403, 302)),
    ("prescreen_progress",       "GET",  "/prescreen/{prescreen_run}/progress.json", None,    (200, 404, 200, 403, 403, 403, 403, 302)),
    ("screening_new",            "GET",  "/screenings/new/?prescreen={prescreen_run}&person=7", None, (404, 404, 404, 403, 403, 403, 403, 302)),
    ("screening_detail",         "GET",  "/screenings/{new}/",                    None,       (200, 404, 200, 200, 200, 200, 200, 302)),
    ("screening_detail",         "GET",  "/screenings/{screening_b}/",            None,       (404, 200, 404, 404, 200, 200, 200, 302)),
    ("screening_decide",         "GET",  "/screenings/{new}/decide/",             None,       (405, 405, 405, 405, 405, 405, 405, 302)),
    ("screening_decide",         "POST", "/screenings/{new}/decide/",             W_DECIDE,   (403, 404, 302, 403, 403, 403, 403, 302)),
    ("screening_consent",        "POST", "/screenings/{ready}/consent/",          W_CONSENT,  (302, 404, 302, 403, 403, 403, 403, 302)),
    ("screening_enroll",         "POST", "/screenings/{ready}/enroll/",           {},         (302, 404, 302, 403, 403, 403, 403, 302)),
    ("subject_detail",           "GET",  "/subjects/{subject}/",                  None,       (200, 404, 200, 200, 200, 200, 200, 302)),
    ("subject_detail",           "GET",  "/subjects/{subject_b}/",                None,       (404, 200, 404, 404, 200, 200, 200, 302)),
    ("subject_withdraw",         "POST", "/subjects/{subject}/withdraw/",         W_WITHDRAW, (302, 404, 302, 403, 403, 403, 403, 302)),
    ("subject_randomize",        "GET",  "/subjects/{subject}/randomize/",        None,       (405, 405, 405, 405, 405, 405, 405, 302)),
    ("subject_randomize",        "POST", "/subjects/{subject}/randomize/",        {},         (400, 404, 400, 403, 403, 403, 403, 302)),
    ("subject_sign",             "GET",  "/subjects/{subject}/sign/",             None,       (405, 405, 405, 405, 405, 405, 405, 302)),
    ("subject_sign",             "POST", "/subjects/{subject}/sign/",             W_SIGN,     (403, 404, 302, 403, 403, 403, 403, 302)),
    ("subject_lock",             "GET",  "/subjects/{subject}/lock/",             None,       (405, 405, 405, 405, 405, 405, 405, 302)),
    ("subject_lock",             "POST", "/subjects/{subject}/lock/",             W_LOCK,     (403, 404, 403, 403, 302, 403, 403, 302)),
    ("subject_lock",             "POST", "/subjects/{subject_b}/lock/",           W_LOCK,     (404, 403, 404, 404, 302, 403, 403, 302)),
    ("lock_list",                "GET",  "/locks/",                               None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("lock_list",                "POST", "/locks/",                               W_REASON,   (403, 403, 403, 403, 302, 403, 403, 302)),
    ("lock_unlock",              "GET",  "/locks/{lock}/unlock/",                 None,       (405, 405, 405, 405, 405, 405, 405, 302)),
    ("lock_unlock",              "POST", "/locks/{lock}/unlock/",                 W_REASON,   (403, 404, 403, 403, 302, 403, 403, 302)),
    ("form_entry",               "GET",  f"/{F_A}/",                              None,       (200, 404, 200, 200, 200, 200, 200, 302)),
    ("form_entry",               "POST", f"/{F_A}/",                              W_FORM,     (302, 404, 302, 403, 403, 403, 403, 302)),
    ("form_entry_seq",           "GET",  f"/{U_A}/2/",                            None,       (200, 404, 200, 200, 200, 200, 200, 302)),
    ("form_raise_query",         "POST", f"/{F_A}/query/",                        W_RAISE,    (403, 404, 403, 302, 302, 403, 403, 302)),
    ("form_raise_query_seq",     "GET",  f"/{F_A}/1/query/",                      None,       (405, 405, 405, 405, 405, 405, 405, 302)),
    ("deviation_new",            "GET",  "/subjects/{subject}/deviations/new/",   None,       (200, 404, 200, 403, 403, 403, 403, 302)),
    ("deviation_new",            "POST", "/subjects/{subject}/deviations/new/",   DEVIATION,  (302, 404, 302, 403, 403, 403, 403, 302)),
    ("deviation_list",           "GET",  "/deviations/",                          None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("allocation_list",          "GET",  "/allocation/",                          None,       (403, 403, 403, 403, 403, 200, 200, 302)),
    # no list imported in this world: the allowed roles get the refusal (422: no such slot)
    ("allocation_list",          "POST", "/allocation/",                          W_SLOT,     (403, 403, 403, 403, 403, 422, 422, 302)),
    ("reference_ranges",         "GET",  "/reference-ranges/",                    None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("reference_ranges",         "POST", "/reference-ranges/",                    W_RANGE,    (403, 403, 403, 403, 302, 403, 302, 302)),
    # no proposal in this world: the site's investigator gets 404, everyone else is refused first
    ("ae_proposal_dismiss",      "POST", "/subjects/{subject}/ae-proposals/999999/dismiss/", W_DISMISS, (403, 404, 404, 403, 403, 403, 403, 302)),
    ("analysis",                 "GET",  "/analysis/",                            None,       (403, 403, 403, 403, 403, 200, 200, 302)),
    ("adam_zip",                 "GET",  "/analysis/adam.zip",                    None,       (403, 403, 403, 403, 403, 200, 200, 302)),
    ("analysis_report",          "GET",  "/analysis/report/",                     None,       (403, 403, 403, 403, 403, 200, 200, 302)),
    ("safety_dashboard",         "GET",  "/safety/",                              None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("safety_labs",              "GET",  "/safety/labs/{subject}/",               None,       (200, 404, 200, 200, 200, 200, 200, 302)),
    ("safety_labs",              "GET",  "/safety/labs/{subject_b}/",             None,       (404, 200, 404, 404, 200, 200, 200, 302)),
    ("dsmb_decision",            "POST", "/safety/trips/999999/decision/",        W_DSMB,     (403, 403, 403, 403, 403, 404, 404, 302)),
    # a lab panel is not a serious adverse event: the allowed roles get the refusal (400)
    ("sae_report",               "POST", f"/{F_A}/1/sae-report/",                 W_SAE,      (400, 404, 400, 403, 403, 403, 403, 302)),
    # no SAE report in this world: 404 for everyone who sees the subject (and for site B)
    ("sae_report_pdf",           "GET",  f"/{F_A}/1/sae-report/999999.pdf",       None,       (404, 404, 404, 404, 404, 404, 404, 302)),
    ("query_list",               "GET",  "/queries/",                             None,       (200, 200, 200, 200, 200, 200, 200, 302)),
    ("query_detail",             "GET",  "/queries/{query}/",                     None,       (200, 404, 200, 200, 200, 200, 200, 302)),
    ("query_detail",             "POST", "/queries/{query}/",                     W_ANSWER,   (302, 404, 302, 403, 403, 403, 403, 302)),
    ("audit_list",               "GET",  "/audit/",                               None,       (200, 200, 200, 200, 200, 403, 200, 302)),
    ("audit_csv",                "GET",  "/audit.csv",                            None,       (200, 200, 200, 200, 200, 403, 200, 302)),
]
# fmt: on

#: The DSMB member reads every site without identities, like the statistician, and
#: records the DSMB's decisions (as the statistician may); unlike the statistician it
#: never sees the allocation list nor exports the analysis datasets. Its expectation is
#: the statistician's except here.
DSMB_DIFFERS = {
    ("allocation_list", "GET"): 403,
    ("allocation_list", "POST"): 403,
    ("analysis", "GET"): 403,
    ("adam_zip", "GET"): 403,
    ("analysis_report", "GET"): 403,
}
CASES = [
    pytest.param(name, method, path, body, persona, expected[i], id=f"{persona}-{method}-{path}")
    for name, method, path, body, expected in MATRIX
    for i, persona in enumerate(PERSONAS)
] + [
    pytest.param(name, method, path, body, "dsmb", DSMB_DIFFERS.get((name, method), expected[PERSONAS.index("statistician")]),
                 id=f"dsmb-{method}-{path}")  # fmt: skip
    for name, method, path, body, expected in MATRIX
]


def _named_routes(patterns=None, namespace: str | None = None):
    """Every named route Django resolves, as 'name' or 'namespace:name'."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _named_routes(pattern.url_patterns, pattern.namespace or namespace)
        elif pattern.name:
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name


def test_every_route_has_a_row():
    missing = sorted(set(_named_routes()) - {row[0] for row in MATRIX})
    assert not missing, f"routes with no row in the access matrix: {missing}"


def test_every_api_operation_has_a_row(client):
    """Each method of each OpenAPI path is in the table (not only each route name)."""
    schema = client.get("/api/openapi.json").json()
    operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    rows = {(method, path.split("?")[0]) for _n, method, path, _b, _e in MATRIX if path.startswith("/api/")}
    normalized = {(m, p.replace("{new}", "{screening_id}").replace("{ready}", "{screening_id}")
                   .replace("{screening_b}", "{screening_id}").replace("{consent}", "{consent_id}")
                   .replace("{subject_b}", "{subject_id}").replace("{subject}", "{subject_id}")
                   .replace("{query_b}", "{query_id}").replace("{closed_query}", "{query_id}")
                   .replace("{query}", "{query_id}").replace("/day_0/", "/{visit_id}/")
                   .replace("/forms/lab_panel", "/forms/{form_id}")) for m, p in rows}  # fmt: skip
    assert operations <= normalized, sorted(operations - normalized)


def _personas() -> Personas:
    """The personas of tests/personas.py, made here because the world below is built once for the module."""
    made = make_personas()
    assert set(made.users) | {"anonymous"} == set(PERSONAS) | {"dsmb"}
    return made


@pytest.fixture(scope="module")
def shared(django_db_setup, django_db_blocker):
    """The personas and the world, built once for the module inside a transaction
    that is rolled back at its end; each test runs in a savepoint inside it (the
    ``db`` fixture), so what one test writes the next one does not see."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            personas = _personas()
            yield personas, _world(personas)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(shared, db):
    return shared[1]


def _world(personas: Personas) -> dict:
    """Site A: a screening awaiting the decision ({new}), one decided and consented
    awaiting enrollment ({ready}), and SYSU3-001 with an active consent, a saved
    day-0 lab panel, an open query and a closed one. Site B: GZ2-001 with a query."""
    coordinator, investigator, monitor = (personas.actor(n) for n in ("coordinator_a", "investigator_a", "monitor_a"))
    investigator_b = Actor(do_create_staff(SYSTEM, "investigator_b", Role.INVESTIGATOR, [personas.site_b], PASSWORD)[0])
    past = timezone.now() - timedelta(hours=1)

    def ready(site, who, decider):
        identity = {"name": NAME["a" if site == personas.site_a else "b"]}
        screening = do_screen(who, site, example("eligible-aclf"), identity)
        do_decide_eligibility(decider, screening, "confirmed")
        do_record_consent(who, screening, "1.0", past)
        return screening

    def enrolled_with_entry(site, who, decider):
        subject = do_enroll(who, ready(site, who, decider))
        values = {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00:00+08:00", "total_bilirubin": "250", "inr": "1.9"}
        entry = do_save_form(who, subject, "day_0", "lab_panel", values, expected_version=None,
                             visit_date=subject.anchor_date).entry  # fmt: skip
        return subject, entry, values

    subject, entry, values = enrolled_with_entry(personas.site_a, coordinator, investigator)
    subject_b, entry_b, _values = enrolled_with_entry(personas.site_b, personas.actor("coordinator_b"), investigator_b)
    query = do_raise_query(monitor, entry, "inr", "Source says 1.8?")
    closed = do_close_query(monitor, do_raise_query(monitor, entry, "total_bilirubin", "Units?"), "ok")
    query_b = do_raise_query(personas.actor("data_manager"), entry_b, "inr", "?")
    new = do_screen(coordinator, personas.site_a, example("eligible-aclf"), {"name": NAME["a"]})
    tz = ZoneInfo(personas.site_a.time_zone)
    lock = do_lock(personas.actor("data_manager"), "visit", subject=subject, visit_id="day_14", reason="verified")
    prescreen_run = PrescreenRun.objects.create(site=personas.site_a, source="omop", protocol_id="NCT05940610",
                                                started_by=coordinator.user, created_at=past)  # fmt: skip
    return {
        "site_a": personas.site_a.pk,
        "prescreen_run": prescreen_run.pk,
        "lock": lock.pk,
        "new": new.pk,
        "ready": ready(personas.site_a, coordinator, investigator).pk,
        "screening_b": subject_b.screening_id,
        "consent": subject.screening.consents.get().pk,
        "subject": subject.subject_id,
        "subject_b": subject_b.subject_id,
        "query": query.pk,
        "closed_query": closed.pk,
        "query_b": query_b.pk,
        "day0": subject.anchor_date.isoformat(),
        "lab_values": values,
        "lab_form": {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00", "total_bilirubin": "250", "inr": "1.9"},
        "past": past,
        "now": timezone.now(),
        "past_local": past.astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
        "now_local": timezone.now().astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
    }


def _send(client, name: str, method: str, url: str, body, world: dict):
    """The row's request: JSON to the API, a form post to a page."""
    data = body(world) if callable(body) else body
    if name.startswith("api:"):
        kwargs = {} if data is None else {"data": json.dumps(data), "content_type": "application/json"}
    else:
        kwargs = {} if data is None else {"data": data}
    return getattr(client, method.lower())(url, **kwargs)


@pytest.mark.parametrize(("name", "method", "path", "body", "persona", "expected"), CASES)
def test_access(shared, world, name, method, path, body, persona, expected):
    personas = shared[0]
    if name not in set(_named_routes()):
        pytest.skip(f"route {name} does not exist (yet)")
    url = path.format(**world)
    match = resolve(url.split("?")[0])
    if name.startswith("api:"):  # ninja serves the methods of one path from the first operation's route
        assert match.namespace == "api"
    else:
        assert match.url_name == name, f"{url} is {match.url_name}, not {name}"
    client = SignedInClient()
    if persona != "anonymous":
        client.force_login(personas.users[persona])
    response = _send(client, name, method, url, body, world)
    assert response.status_code == expected, response.content[:600]
    text = response.content.decode("utf-8", "replace")
    for name, readers in IDENTITY_READERS.items():  # identifying details reach only the site's own staff
        if persona not in readers:
            assert name not in text, f"{persona} reads {name}"
    if name.startswith("api:") and expected >= 400 and response["Content-Type"].startswith("application/json"):
        assert set(response.json()) == {"detail", "errors"}


#: A session that gave the password but not the authenticator's code (the investigator's
#: and the administrator's, trial.middleware.TwoFactorMiddleware) is answered as an
#: anonymous caller is, except that the pages send it to enter the code instead of to the
#: login page, and the two-factor pages are open to it:
HALF_SIGNED_DIFFERS = {
    ("two_factor_verify", "GET"): 200,
    ("two_factor_verify", "POST"): 403,  # the wrong code, refused (and audited)
    ("two_factor_setup", "GET"): 302,  # set up already: to entering the code
    ("two_factor_setup", "POST"): 302,
}
HALF_CASES = [
    pytest.param(name, method, path, body, persona, id=f"{persona}-password-only-{method}-{path}")
    for name, method, path, body, _expected in MATRIX
    for persona in ("investigator_a", "admin")
]


@pytest.mark.parametrize(("name", "method", "path", "body", "persona"), HALF_CASES)
def test_the_password_alone_reaches_nothing(shared, world, name, method, path, body, persona):
    """Every row of the table again, for the two roles that sign in with two factors,
    signed in with the password only."""
    if name not in set(_named_routes()):
        pytest.skip(f"route {name} does not exist (yet)")
    client = Client()  # Django's own: its force_login gives no second factor
    client.force_login(shared[0].users[persona])
    response = _send(client, name, method, path.format(**world), body, world)
    anonymous = next(e[-1] for n, m, p, _b, e in MATRIX if (n, m, p) == (name, method, path))
    expected = HALF_SIGNED_DIFFERS.get((name, method), anonymous)
    assert response.status_code == expected, response.content[:600]
    if expected == 302 and name not in ("logout", "two_factor_setup"):
        assert response["Location"].startswith("/login/code/"), response["Location"]
    text = response.content.decode("utf-8", "replace")
    assert not any(identity in text for identity in IDENTITY_READERS), f"{persona} with a password alone reads a name"


OTHER_METHODS = ("PUT", "PATCH", "DELETE", "OPTIONS")
WEB_ROWS = sorted({(name, path) for name, _m, path, _b, _e in MATRIX if not name.startswith("api:")})


@pytest.mark.parametrize("method", OTHER_METHODS)
@pytest.mark.parametrize(("name", "path"), WEB_ROWS, ids=[f"{n}-{p}" for n, p in WEB_ROWS])
def test_web_pages_refuse_every_other_method(shared, world, name, path, method):
    """Every web route, for every method the table does not list, answers 405 before any
    view runs, to staff and anonymous callers alike."""
    url = path.format(**world)
    for persona in ("coordinator_a", "anonymous"):
        client = SignedInClient()
        if persona != "anonymous":
            client.force_login(shared[0].users[persona])
        assert getattr(client, method.lower())(url).status_code == 405, (persona, method, url)


def test_api_operations_refuse_undeclared_methods(shared, world, client):
    """Every API path, for every method its operations do not declare, answers 405."""
    schema = client.get("/api/openapi.json").json()
    paths = {p.split("?")[0].format(**world): p for _n, _m, p, _b, _e in MATRIX if p.startswith("/api/")}
    concrete = {}
    for url in paths:
        template = next((t for t in schema["paths"] if _matches(t, url)), None)
        if template is not None:
            concrete[url] = {m.upper() for m in schema["paths"][template]}
    checked = 0
    staff = Client()
    staff.force_login(shared[0].users["coordinator_a"])
    for url, declared in concrete.items():
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method in declared:
                continue
            assert getattr(staff, method.lower())(url).status_code == 405, (method, url)
            checked += 1
    assert checked > 40


def _matches(template: str, url: str) -> bool:
    t, u = template.strip("/").split("/"), url.strip("/").split("/")
    return len(t) == len(u) and all(a == b or (a.startswith("{") and a.endswith("}")) for a, b in zip(t, u))
