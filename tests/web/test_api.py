"""The JSON API: every endpoint's happy path and refusals, both authentications
(session with CSRF, bearer token), the error format, and the audit rows it
leaves (route "api"). Who may call what is in test_access_matrix.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from builders import example
from personas import PASSWORD
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from hepatrial.services.access import Actor
from hepatrial.services.accounts import SYSTEM, do_create_staff, do_create_token, do_revoke_token
from hepatrial.services.enrollment import do_enroll, do_record_consent
from hepatrial.services.forms import do_save_form
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.models import ApiToken, AuditEvent, Consent, DataQuery, FormEntry, Role, Screening

IDENTITY = {"name": "Zhang San", "hospital_record_number": "HRN-778899", "phone": "+86 20 1234 5678"}
FORM = "/api/subjects/{}/visits/day_0/forms/lab_panel"


class Api:
    """A test client speaking JSON with one persona's bearer token."""

    def __init__(self, token: str | None = None, client: Client | None = None):
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __call__(self, method: str, path: str, body=None, **headers):
        kwargs = {"headers": {**self.headers, **headers}}
        if body is not None:
            kwargs.update(data=body if isinstance(body, str) else json.dumps(body), content_type="application/json")
        return getattr(self.client, method.lower())(path, **kwargs)

    def get(self, path, **kw):
        return self("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self("POST", path, {} if body is None else body, **kw)

    def put(self, path, body, **kw):
        return self("PUT", path, body, **kw)


@pytest.fixture
def api(personas):
    """api("coordinator_a") -> a JSON client authenticated with that persona's token."""
    tokens = {}

    def make(name: str) -> Api:
        if name not in tokens:
            tokens[name] = do_create_token(personas.actor(name), "tests")[1]
        return Api(tokens[name])

    return make


def screened(personas, site="a", candidate="eligible-aclf", who="coordinator_a") -> Screening:
    site = personas.site_a if site == "a" else personas.site_b
    return do_screen(personas.actor(who), site, example(candidate), IDENTITY)


def enrolled(personas, site="a"):
    """An enrolled subject of site a (SYSU3-001) or b (GZ2-001)."""
    who = "coordinator_a" if site == "a" else "coordinator_b"
    screening = screened(personas, site, who=who)
    if site == "a":
        investigator = personas.actor("investigator_a")
    else:  # site B has no investigator persona: one for the setup
        investigator = Actor(do_create_staff(SYSTEM, "investigator_b", Role.INVESTIGATOR, [personas.site_b], PASSWORD)[0])
    do_decide_eligibility(investigator, screening, "confirmed")
    do_record_consent(personas.actor(who), screening, "1.0", timezone.now() - timedelta(minutes=5))
    return do_enroll(personas.actor(who), screening)


def lab_values(subject, **values):
    return {"sample_datetime": f"{subject.anchor_date.isoformat()}T07:00:00+08:00", **values}


def assert_error(response, status: int, *fields: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"]
    for field in fields:
        assert field in body["errors"], body
    return body


# --- authentication ---------------------------------------------------------------------------

def test_anonymous_is_401_with_the_error_format(personas):
    for method, path in [("GET", "/api/me"), ("GET", "/api/subjects"), ("POST", "/api/screenings")]:
        response = Api()(method, path, {} if method == "POST" else None)
        assert_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_bearer_token_authenticates_and_needs_no_csrf(personas, api):
    me = api("investigator_a").get("/api/me").json()
    assert me == {"username": "investigator_a", "role": "investigator", "sites": ["SYSU3"], "csrf_token": None}
    client = Client(enforce_csrf_checks=True)  # a token, not a cookie: no CSRF token needed
    token = do_create_token(personas.actor("coordinator_a"), "script")[1]
    response = Api(token, client).post("/api/screenings", {"site": "SYSU3", "candidate": example("eligible-aclf")})
    assert response.status_code == 201, response.content
    assert ApiToken.objects.get(prefix=token[:8]).last_used_at is not None


def test_a_tokens_last_use_is_written_at_most_once_a_minute(personas):
    """Not a write per API call: only when the recorded last use is a minute old or more."""
    made, token = do_create_token(personas.actor("coordinator_a"), "script")
    Api(token).get("/api/me")
    first = ApiToken.objects.get(pk=made.pk).last_used_at
    assert first is not None
    Api(token).get("/api/me")
    assert ApiToken.objects.get(pk=made.pk).last_used_at == first  # within the minute: unchanged
    ApiToken.objects.filter(pk=made.pk).update(last_used_at=first - timedelta(seconds=61))
    Api(token).get("/api/me")
    assert ApiToken.objects.get(pk=made.pk).last_used_at > first


def test_a_revoked_unknown_or_malformed_token_is_401_even_with_a_session(personas):
    made, token = do_create_token(personas.actor("coordinator_a"), "laptop")
    do_revoke_token(personas.actor("coordinator_a"), made)
    client = Client()
    client.force_login(personas.users["coordinator_a"])  # a wrong token never falls back to the session
    for header in [f"Bearer {token}", "Bearer hpt_not-a-token", "Bearer ", f"Token {token}", token]:
        body = assert_error(client.get("/api/me", headers={"Authorization": header}), 401)
        assert "token" in body["detail"].lower()


def test_session_auth_reads_and_needs_csrf_for_unsafe_methods(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.users["coordinator_a"])
    me = client.get("/api/me")  # safe method: no CSRF token needed
    assert me.status_code == 200 and me.json()["username"] == "coordinator_a"
    csrf = me.json()["csrf_token"]
    assert csrf and "csrftoken" in client.cookies
    body = json.dumps({"site": "SYSU3", "candidate": example("eligible-aclf")})
    refused = client.post("/api/screenings", body, content_type="application/json")
    assert_error(refused, 403)
    assert "CSRF" in refused.json()["detail"]
    assert not Screening.objects.exists()
    wrong = client.post("/api/screenings", body, content_type="application/json", headers={"X-CSRFToken": "x" * 32})
    assert_error(wrong, 403)
    ok = client.post("/api/screenings", body, content_type="application/json", headers={"X-CSRFToken": csrf})
    assert ok.status_code == 201, ok.content


def test_a_user_without_a_staff_profile_is_403(personas):
    user = get_user_model().objects.create_user("visitor", password="correct-horse-battery-staple-42")
    client = Client()
    client.force_login(user)
    assert_error(client.get("/api/me"), 403)
    assert_error(Api(client=client).post("/api/screenings", {"site": "SYSU3", "candidate": {}}), 403)


def test_openapi_schema_lists_every_path_and_docs_page_loads(personas):
    schema = Client().get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert set(paths) == {
        "/api/me", "/api/sites", "/api/screenings", "/api/screenings/{screening_id}",
        "/api/screenings/{screening_id}/decision", "/api/screenings/{screening_id}/consents",
        "/api/consents/{consent_id}/withdrawal", "/api/screenings/{screening_id}/enroll", "/api/subjects",
        "/api/subjects/{subject_id}", "/api/subjects/{subject_id}/randomize",
        "/api/subjects/{subject_id}/visits/{visit_id}/forms/{form_id}",
        "/api/subjects/{subject_id}/doses", "/api/subjects/{subject_id}/deviations", "/api/deviations",
        "/api/queries", "/api/queries/{query_id}", "/api/queries/{query_id}/answer",
        "/api/queries/{query_id}/close", "/api/queries/{query_id}/reopen",
    }  # fmt: skip
    assert set(paths["/api/subjects/{subject_id}/visits/{visit_id}/forms/{form_id}"]) == {"get", "put"}
    schemes = schema.json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert Client().get("/api/docs").status_code == 200


# --- who and where --------------------------------------------------------------------------

def test_me_and_sites(personas, api):
    assert set(api("data_manager").get("/api/me").json()["sites"]) == {"GZ2", "SYSU3"}
    assert [s["code"] for s in api("coordinator_b").get("/api/sites").json()] == ["GZ2"]
    assert api("monitor_a").get("/api/sites").json() == [
        {"code": "SYSU3", "name": "Third Affiliated Hospital of Sun Yat-sen University", "time_zone": "Asia/Shanghai"}
    ]
    assert {s["code"] for s in api("statistician").get("/api/sites").json()} == {"SYSU3", "GZ2"}


# --- screening, consent, enrollment ---------------------------------------------------------

def test_screen_decide_consent_enroll_through_the_api(personas, api):
    coordinator, investigator = api("coordinator_a"), api("investigator_a")
    made = coordinator.post("/api/screenings", {"site": "SYSU3", "candidate": example("eligible-aclf"), "identity": IDENTITY})
    assert made.status_code == 201, made.content
    screening = made.json()
    assert screening["verdict"] == "eligible" and screening["identity"] == IDENTITY
    assert screening["result"]["criteria"] and screening["result"]["scores"]
    assert screening["consent_state"] == "none" and screening["decision"] is None
    sid = screening["id"]

    log = coordinator.get("/api/screenings?site=SYSU3").json()
    assert [row["id"] for row in log] == [sid]
    assert set(log[0]) == {"id", "site", "screened_at", "age", "sex", "verdict", "failing", "decision", "subject_id"}

    refused = coordinator.post(f"/api/screenings/{sid}/enroll")
    assert_error(refused, 400)  # no decision yet: the action's refusal, with its message
    assert "eligibility" in refused.json()["detail"]

    decided = investigator.post(f"/api/screenings/{sid}/decision", {"decision": "confirmed", "reason": ""})
    assert decided.status_code == 200 and decided.json()["decision"] == "confirmed"
    assert decided.json()["decision_detail"]["decided_by"] == "investigator_a"

    obtained = (timezone.now() - timedelta(minutes=10)).isoformat()
    consent = coordinator.post(f"/api/screenings/{sid}/consents", {"version": "1.0", "obtained_at": obtained})
    assert consent.status_code == 201, consent.content
    assert consent.json()["version"] == "1.0" and consent.json()["withdrawn_at"] is None

    subject = coordinator.post(f"/api/screenings/{sid}/enroll")
    assert subject.status_code == 201, subject.content
    assert subject.json()["subject_id"] == "SYSU3-001" and subject.json()["identity"] == IDENTITY
    assert_error(coordinator.post(f"/api/screenings/{sid}/enroll"), 400)  # already enrolled

    # every event since the set-up (sites and accounts: "system"; tokens: "web") came through the API
    trial_events = AuditEvent.objects.exclude(route="system").exclude(action="create_token")
    assert set(trial_events.values_list("route", flat=True)) == {"api"}
    api_actions = set(AuditEvent.objects.filter(route="api").values_list("action", flat=True))
    assert {"screen", "create_identity", "decide_eligibility", "consent", "enroll"} <= api_actions


def test_screening_refusals(personas, api):
    coordinator = api("coordinator_a")
    # the candidate's own errors name paths inside "candidate"
    bad = coordinator.post("/api/screenings", {"site": "SYSU3", "candidate": {**example("eligible-aclf"), "age": "old"}})
    assert_error(bad, 422, "candidate.age")
    # the request's shape: missing and unknown keys, wrong types
    assert_error(coordinator.post("/api/screenings", {"candidate": {}}), 422, "site")
    assert_error(coordinator.post("/api/screenings", {"site": "SYSU3", "candidate": [], "extra": 1}), 422, "candidate", "extra")
    assert_error(coordinator.post("/api/screenings", {"site": "SYSU3", "candidate": {}, "identity": {"nam": "x"}}), 422, "identity.nam")
    assert_error(coordinator.post("/api/screenings", "{not json"), 400)
    assert_error(coordinator.post("/api/screenings", "[1, 2]"), 422)
    # another site's code is "no such site", like a code that does not exist
    assert_error(coordinator.post("/api/screenings", {"site": "GZ2", "candidate": example("eligible-aclf")}), 404, "site")
    assert_error(coordinator.post("/api/screenings", {"site": "NOPE", "candidate": example("eligible-aclf")}), 404, "site")
    assert_error(coordinator.get("/api/screenings?site=GZ2"), 404)
    assert_error(api("monitor_a").post("/api/screenings", {"site": "SYSU3", "candidate": example("eligible-aclf")}), 403)
    assert not Screening.objects.exists()

    excluded = screened(personas, candidate="excluded-meld")
    other = screened(personas, site="b", who="coordinator_b")
    investigator = api("investigator_a")
    assert_error(investigator.post(f"/api/screenings/{excluded.pk}/decision", {"decision": "confirmed"}), 400, "decision")
    assert_error(investigator.post(f"/api/screenings/{excluded.pk}/decision", {"decision": "overridden"}), 422, "reason")
    assert_error(investigator.post(f"/api/screenings/{excluded.pk}/decision", {"decision": "maybe"}), 422, "decision")
    assert_error(investigator.get(f"/api/screenings/{other.pk}"), 404)  # never reveals another site's records
    assert_error(investigator.post(f"/api/screenings/{other.pk}/decision", {"decision": "not_eligible"}), 404)
    assert_error(investigator.get("/api/screenings/999999"), 404)
    assert_error(investigator.get("/api/screenings/abc"), 422, "screening_id")
    assert_error(investigator.get(f"/api/screenings/{2**70}"), 422, "screening_id")

    consents = f"/api/screenings/{excluded.pk}/consents"
    naive = (timezone.now() - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert_error(coordinator.post(consents, {"version": "1.0", "obtained_at": naive}), 422, "obtained_at")
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert_error(coordinator.post(consents, {"version": "1.0", "obtained_at": future}), 422, "obtained_at")
    assert_error(coordinator.post(consents, {"version": "9.9", "obtained_at": timezone.now().isoformat()}), 422, "version")
    assert_error(coordinator.post(consents, {"version": "1.0", "obtained_at": "yesterday"}), 422, "obtained_at")
    assert not Consent.objects.exists()


def test_identity_only_for_the_sites_own_staff(personas, api):
    subject = enrolled(personas)
    screening_id = subject.screening_id
    for name in ["coordinator_a", "investigator_a"]:
        assert api(name).get(f"/api/screenings/{screening_id}").json()["identity"] == IDENTITY
        assert api(name).get(f"/api/subjects/{subject.subject_id}").json()["identity"] == IDENTITY
    for name in ["monitor_a", "data_manager", "statistician", "admin"]:
        for path in [f"/api/screenings/{screening_id}", f"/api/subjects/{subject.subject_id}", "/api/screenings"]:
            response = api(name).get(path)
            assert response.status_code == 200
            assert "Zhang San" not in response.content.decode() and "HRN-778899" not in response.content.decode()


def test_consent_withdrawal(personas, api):
    subject = enrolled(personas)
    consent = subject.screening.consents.get()
    path = f"/api/consents/{consent.pk}/withdrawal"
    at = timezone.now().isoformat()
    coordinator = api("coordinator_a")
    assert_error(coordinator.post(path, {"withdrawn_at": at, "scope": "no_further_data", "reason": " "}), 422, "reason")
    assert_error(coordinator.post(path, {"withdrawn_at": at, "scope": "everything", "reason": "x"}), 422, "scope")
    assert_error(api("monitor_a").post(path, {"withdrawn_at": at, "scope": "no_further_data", "reason": "x"}), 403)
    assert_error(api("coordinator_b").post(path, {"withdrawn_at": at, "scope": "no_further_data", "reason": "x"}), 404)
    done = coordinator.post(path, {"withdrawn_at": at, "scope": "no_further_treatment", "reason": "subject's wish"})
    assert done.status_code == 200, done.content
    assert done.json()["withdrawal_scope"] == "no_further_treatment" and done.json()["withdrawn_at"]
    assert api("coordinator_a").get(f"/api/subjects/{subject.subject_id}").json()["consent_state"] == "withdrawn"
    assert_error(coordinator.post(path, {"withdrawn_at": at, "scope": "no_further_data", "reason": "again"}), 400)
    event = AuditEvent.objects.get(action="withdraw_consent")
    assert (event.route, event.reason, event.subject_id) == ("api", "subject's wish", "SYSU3-001")


# --- subjects and forms ---------------------------------------------------------------------

def test_subjects_and_the_visit_grid(personas, api):
    subject = enrolled(personas)
    other = enrolled(personas, site="b")
    rows = api("coordinator_a").get("/api/subjects").json()
    assert [r["subject_id"] for r in rows] == ["SYSU3-001"] and rows[0]["consent_state"] == "consented"
    assert {r["subject_id"] for r in api("statistician").get("/api/subjects").json()} == {"SYSU3-001", "GZ2-001"}
    assert [r["subject_id"] for r in api("data_manager").get("/api/subjects?site=GZ2").json()] == ["GZ2-001"]
    detail = api("monitor_a").get(f"/api/subjects/{subject.subject_id}").json()
    visits = {v["visit_id"]: v for v in detail["visits"]}
    day7 = visits["day_7"]
    assert day7["target"] == (subject.anchor_date + timedelta(days=7)).isoformat()
    assert day7["earliest"] <= day7["target"] <= day7["latest"]
    assert visits["screening"]["target"] is None
    assert {f["form_id"]: f["status"] for f in visits["day_0"]["forms"]} == {
        "lab_panel": "missing", "clinical_status": "missing", "smt_given": "missing", "dosing": "missing"
    }  # fmt: skip
    assert_error(api("coordinator_a").get(f"/api/subjects/{other.subject_id}"), 404)
    assert_error(api("monitor_a").get(f"/api/subjects/{other.subject_id}"), 404)
    assert_error(api("coordinator_a").get("/api/subjects/SYSU3-999"), 404)


def test_form_read_save_change_conflict_and_audit(personas, api):
    subject = enrolled(personas)
    path = FORM.format(subject.subject_id)
    coordinator = api("coordinator_a")
    empty = coordinator.get(path).json()
    assert (empty["status"], empty["version"], empty["data"]) == ("missing", None, {})

    day0 = subject.anchor_date.isoformat()
    first = coordinator.put(path, {"values": lab_values(subject, total_bilirubin="250", inr=1.9),
                                   "expected_version": None, "visit_date": day0})  # fmt: skip
    assert first.status_code == 200, first.content
    assert first.json() == {"version": 1, "status": "complete", "warnings": [], "opened_queries": []}
    read = coordinator.get(path).json()
    assert (read["version"], read["status"], read["visit_date"]) == (1, "complete", day0)
    assert read["data"]["total_bilirubin"] == 250.0

    # a saved value changing without a reason: refused, nothing saved
    change = {"values": lab_values(subject, total_bilirubin="260", inr=1.9), "expected_version": 1, "visit_date": day0}
    assert_error(coordinator.put(path, change), 422, "reason")
    assert FormEntry.objects.get().version == 1
    changed = coordinator.put(path, {**change, "reason": "re-read the lab report"})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    event = AuditEvent.objects.get(action="update_form", field="day_0/lab_panel.total_bilirubin")
    assert (event.route, event.username, event.old, event.new, event.reason) == (
        "api", "coordinator_a", 250.0, 260.0, "re-read the lab report"
    )  # fmt: skip
    assert set(AuditEvent.objects.filter(action__in=["create_form", "update_form"]).values_list("route", flat=True)) == {"api"}

    # someone else saved since version 1 was read: 409, nothing overwritten
    stale = api("investigator_a").put(path, {**change, "values": lab_values(subject, total_bilirubin="270"), "reason": "typo"})
    assert_error(stale, 409)
    assert FormEntry.objects.get().data["total_bilirubin"] == 260.0
    assert_error(coordinator.put(path, {**change, "expected_version": None}), 409)


def test_form_errors_warnings_and_confirmations(personas, api):
    subject = enrolled(personas)
    path = FORM.format(subject.subject_id)
    coordinator = api("coordinator_a")
    day0 = subject.anchor_date.isoformat()
    hard = coordinator.put(path, {"values": lab_values(subject, total_bilirubin="-3", inr={"a": 1}, colour="red"),
                                  "expected_version": None, "visit_date": day0})  # fmt: skip
    assert_error(hard, 422, "values.total_bilirubin", "values.inr", "values.colour")
    assert_error(coordinator.put(path, {"values": {}, "visit_date": day0}), 422, "expected_version")
    assert_error(coordinator.put(path, {"values": {}, "expected_version": None, "visit_date": "2026-13-01"}), 422, "visit_date")
    assert_error(coordinator.put(path, {"values": "x", "expected_version": None, "visit_date": day0}), 422, "values")
    assert_error(coordinator.put(path + "?sequence=0", {"values": {}, "expected_version": None, "visit_date": day0}), 422, "sequence")
    assert_error(coordinator.put(FORM.format(subject.subject_id).replace("day_0", "day_99"),
                                 {"values": {}, "expected_version": None, "visit_date": day0}), 404)  # fmt: skip
    assert_error(coordinator.get(FORM.format(subject.subject_id).replace("lab_panel", "outcome_status")), 404)
    assert not FormEntry.objects.exists()

    # a soft check saves and opens a query (bilirubin 15 umol/L looks like mg/dL)
    soft = coordinator.put(path, {"values": lab_values(subject, total_bilirubin="15"), "expected_version": None,
                                  "visit_date": day0, "complete": False})  # fmt: skip
    assert soft.status_code == 200, soft.content
    warning = next(w for w in soft.json()["warnings"] if w["code"] == "bilirubin_looks_like_mg_dl")
    assert warning["field"] == "total_bilirubin" and warning["message"]
    assert soft.json()["status"] == "queried" and len(soft.json()["opened_queries"]) >= 1
    read = coordinator.get(path).json()
    assert read["status"] == "queried" and any(q["check_id"] == "bilirubin_looks_like_mg_dl" for q in read["queries"])

    # the same warning confirmed with a reason (on another visit) opens no query
    other = FORM.format(subject.subject_id).replace("day_0", "screening")
    confirmed = coordinator.put(other, {
        "values": lab_values(subject, total_bilirubin="15"), "expected_version": None, "visit_date": day0,
        "confirmations": {"total_bilirubin:bilirubin_looks_like_mg_dl": "Gilbert's: truly 15 umol/L"},
    })  # fmt: skip
    assert confirmed.status_code == 200, confirmed.content
    assert not DataQuery.objects.filter(form_entry__visit_id="screening", check_id="bilirubin_looks_like_mg_dl").exists()
    assert AuditEvent.objects.get(action="confirm_warning").route == "api"


def test_form_write_refusals(personas, api):
    subject = enrolled(personas)
    other = enrolled(personas, site="b")
    body = {"values": lab_values(subject, total_bilirubin="250"), "expected_version": None,
            "visit_date": subject.anchor_date.isoformat()}  # fmt: skip
    for name in ["monitor_a", "data_manager", "statistician", "admin"]:
        assert_error(api(name).put(FORM.format(subject.subject_id), body), 403)
    assert_error(api("coordinator_b").put(FORM.format(subject.subject_id), body), 404)
    assert_error(api("coordinator_a").put(FORM.format(other.subject_id), body), 404)
    assert_error(api("coordinator_a").get(FORM.format(other.subject_id)), 404)
    assert not FormEntry.objects.exists()


# --- data queries ---------------------------------------------------------------------------

@pytest.fixture
def entry(personas):
    subject = enrolled(personas)
    values = lab_values(subject, total_bilirubin="250", inr="1.9")
    return do_save_form(personas.actor("coordinator_a"), subject, "day_0", "lab_panel", values,
                        expected_version=None, visit_date=subject.anchor_date).entry  # fmt: skip


def test_query_life_cycle(personas, api, entry):
    monitor, coordinator = api("monitor_a"), api("coordinator_a")
    where = {"subject_id": "SYSU3-001", "visit_id": "day_0", "form_id": "lab_panel"}
    raised = monitor.post("/api/queries", {**where, "field": "inr", "text": "Source says 1.8?"})
    assert raised.status_code == 201, raised.content
    query = raised.json()
    assert (query["state"], query["value"], query["raised_by"], query["field"]) == ("open", 1.9, "monitor_a", "inr")
    assert [m["kind"] for m in query["messages"]] == ["raise"]
    qid = query["id"]

    assert_error(coordinator.post(f"/api/queries/{qid}/answer", {"text": " "}), 422, "text")
    answered = coordinator.post(f"/api/queries/{qid}/answer", {"text": "Checked: 1.9"})
    assert answered.status_code == 200 and answered.json()["state"] == "answered"
    assert_error(coordinator.post(f"/api/queries/{qid}/close", {}), 403)
    closed = monitor.post(f"/api/queries/{qid}/close", {})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert_error(monitor.post(f"/api/queries/{qid}/close", {"text": "again"}), 400)
    assert_error(monitor.post(f"/api/queries/{qid}/reopen", {}), 422, "text")
    reopened = api("data_manager").post(f"/api/queries/{qid}/reopen", {"text": "Still 1.8 in the source"})
    assert reopened.status_code == 200 and reopened.json()["state"] == "open"
    detail = coordinator.get(f"/api/queries/{qid}").json()
    assert [(m["kind"], m["author"]) for m in detail["messages"]] == [
        ("raise", "monitor_a"), ("answer", "coordinator_a"), ("close", "monitor_a"), ("reopen", "data_manager")
    ]  # fmt: skip
    events = AuditEvent.objects.filter(model="DataQuery").order_by("pk")
    assert [(e.action, e.route) for e in events] == [
        ("raise_query", "api"), ("answer_query", "api"), ("close_query", "api"), ("reopen_query", "api")
    ]  # fmt: skip


def test_query_list_filters(personas, api, entry):
    monitor = api("monitor_a")
    where = {"subject_id": "SYSU3-001", "visit_id": "day_0", "form_id": "lab_panel"}
    first = monitor.post("/api/queries", {**where, "field": "inr", "text": "1.8?"}).json()["id"]
    second = monitor.post("/api/queries", {**where, "field": "total_bilirubin", "text": "units?"}).json()["id"]
    api("coordinator_a").post(f"/api/queries/{first}/answer", {"text": "ok"})
    listed = api("coordinator_a").get("/api/queries").json()
    assert {q["id"] for q in listed} == {first, second}
    assert [q["id"] for q in monitor.get("/api/queries?state=answered").json()] == [first]
    assert [q["id"] for q in monitor.get("/api/queries?state=open&site=SYSU3&subject=SYSU3-001&form=lab_panel").json()] == [second]
    assert monitor.get("/api/queries?subject=SYSU3-002").json() == []
    assert monitor.get("/api/queries?min_age_days=1").json() == []
    assert len(monitor.get("/api/queries?min_age_days=0").json()) == 2
    assert_error(monitor.get("/api/queries?state=pending"), 422, "state")
    assert_error(monitor.get("/api/queries?min_age_days=-1"), 422, "min_age_days")
    assert_error(monitor.get("/api/queries?min_age_days=10000000000"), 422, "min_age_days")
    assert_error(monitor.get("/api/queries?site=GZ2"), 404)
    assert api("coordinator_b").get("/api/queries").json() == []
    assert_error(api("coordinator_b").get(f"/api/queries/{first}"), 404)


def test_query_raise_refusals(personas, api, entry):
    monitor = api("monitor_a")
    where = {"subject_id": "SYSU3-001", "visit_id": "day_0", "form_id": "lab_panel"}
    assert_error(monitor.post("/api/queries", {**where, "field": "colour", "text": "?"}), 422, "field")
    assert_error(monitor.post("/api/queries", {**where, "field": "inr", "text": ""}), 422, "text")
    assert_error(monitor.post("/api/queries", {**where, "field": "inr"}), 422, "text")
    assert_error(monitor.post("/api/queries", {**where, "visit_id": "day_7", "field": "inr", "text": "?"}), 404)
    assert_error(monitor.post("/api/queries", {**where, "form_id": "nope", "field": "inr", "text": "?"}), 404)
    assert_error(monitor.post("/api/queries", {**where, "subject_id": "GZ2-001", "field": "inr", "text": "?"}), 404)
    assert_error(api("coordinator_a").post("/api/queries", {**where, "field": "inr", "text": "?"}), 403)
    assert_error(api("statistician").post("/api/queries", {**where, "field": "inr", "text": "?"}), 403)
    assert not DataQuery.objects.exists()


def test_nul_characters_are_refused_before_the_database(personas, api, entry):
    """PostgreSQL cannot store or compare NUL: such input is a 4xx on every database, never a 500."""
    monitor = api("monitor_a")
    where = {"subject_id": "SYSU3-001", "visit_id": "day_0", "form_id": "lab_panel", "field": "inr"}
    assert_error(monitor.post("/api/queries", {**where, "text": "a\u0000b"}), 400)
    assert_error(monitor.get("/api/queries?subject=SYSU3%00"), 422, "subject")
    assert_error(monitor.get("/api/screenings?site=%00"), 422, "site")
    assert_error(monitor.get("/api/subjects/SYSU3-001%00"), 404)
    assert_error(monitor.get("/api/subjects/SYSU3-001%00/visits/day_0/forms/lab_panel"), 404)
    assert not DataQuery.objects.exists()
