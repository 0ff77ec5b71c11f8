"""The API fuzzed from its own OpenAPI schema (issue #8): schemathesis generates requests
for every operation of /api/openapi.json, as every persona (each role with a bearer token,
a second site's coordinator, and anonymous), and checks each answer: no server error, a
status code, content type, headers and body the schema declares.

Fixed seed (derandomized), so a run is repeatable. The last test checks that at least
MIN_CASES requests were made."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from hepatrial.services.accounts import do_create_token

#: No server error, and every answer as the schema declares it (status, content type,
#: headers, body); an unsupported method answered 405; an operation that needs
#: authentication refuses a request without it.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, unsupported_method, ignored_auth]  # fmt: skip
PERSONAS = ("coordinator_a", "coordinator_b", "investigator_a", "monitor_a", "data_manager", "statistician", "admin", "dsmb", None)
EXAMPLES = 12
MIN_CASES = 2000
CALLS: list[str] = []

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture
def keep_connection():
    """The WSGI app closes the database connection around each request; the test's
    transaction lives on it, so, as Django's test client does, not here."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def tokens(personas, subject, keep_connection):
    """A bearer token for each persona (and SYSU3-001 enrolled, so some paths exist)."""
    return {name: do_create_token(personas.actor(name), "fuzz")[1] for name in PERSONAS if name}


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p or "anonymous")
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip
def test_the_api_answers_every_generated_request_as_its_schema_says(case, persona, tokens):
    headers = {"Authorization": f"Bearer {tokens[persona]}"} if persona else {}
    CALLS.append(case.operation.label)
    case.call_and_validate(headers=headers, checks=CHECKS)


def test_enough_requests_were_made():
    assert len(CALLS) >= MIN_CASES, f"only {len(CALLS)} generated requests"
    print(f"\n{len(CALLS)} generated requests over {len(set(CALLS))} operations and {len(PERSONAS)} personas")
