"""Randomization under concurrency over HTTP, from separate client processes,
against a real ``hepatrial serve`` (issue #4): 64 subjects randomized at once get
64 distinct slots with complete blocks balanced; one subject asked 64 times at
once gets exactly one allocation and 63 clear refusals.

The thread version of these tests (one process, the service called directly)
is tests/services/test_randomization_actions.py; this one goes through
everything a site's client goes through: TCP, gunicorn, Django, the token
check, the API and its error answers.

How the server is started, and why this way:

- The test is transactional (``django_db(transaction=True)``): the sites, users,
  allocation list, subjects and token it creates are committed to the test
  database, which the server then reads and writes. Afterwards the test reads
  the outcome from the same database.
- The server is the real command, ``python -m hepatrial.cli serve --port P
  --threads 64`` (its four worker processes, 64 threads each), unmodified, in
  a subprocess. It is pointed at the test
  database with ``HEPATRIAL_DATABASE_URL`` built from the test connection's
  ``settings_dict`` (on PostgreSQL the ``test_...`` database; on SQLite the
  test database *file* of tests/web_settings.py, with the app's connection
  OPTIONS -- IMMEDIATE transactions, busy timeout, WAL -- passed as URL query
  parameters, which dj-database-url turns back into OPTIONS, so the server's
  SQLite behaves as in production). Its start-up steps are harmless here:
  ``migrate`` finds nothing to apply, ``check`` verifies the imported list's
  digest, ``collectstatic`` writes into the server's own HEPATRIAL_HOME (a
  temporary folder), and ``ensure_demo`` does nothing because the personas'
  sites exist. The test asserts the server named the test database in its
  start-up line, so it cannot silently be running against another one.
- Both processes run the same protocol file: a copy of the packaged protocol
  with 80 slots per site and stratum (``settings.HEPATRIAL_PROTOCOL`` here,
  ``HEPATRIAL_PROTOCOL`` for the server).
- The 64 clients are separate Python processes (``subprocess``, stdlib only).
  Each connects to the server first and reports "ready"; only when all 64 are
  connected does the test release them (a gate on their stdin, which plays
  the part of a barrier across processes), and each then sends
  ``POST /api/subjects/{id}/randomize`` with ``Authorization: Bearer <token>``
  (http.client, which urllib uses underneath: it lets the connection be made
  before the gate, so the requests themselves arrive together).
- The server is stopped inside the test, before pytest-django empties the
  tables (``audit_rows_removable`` lets it do so despite the audit triggers).

PostgreSQL: ``HEPATRIAL_TEST_DB=postgres`` (CI's second run); the database comes
from tests/web_settings.py, so nothing here can skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from builders import example
from django.db import connection, connections
from django.utils import timezone
from infra.services import free_port

from hepatrial.core.protocol import packaged_protocols
from hepatrial.core.randomization import make_list, write_list
from hepatrial.services.accounts import do_create_token
from hepatrial.services.enrollment import do_enroll, do_record_consent
from hepatrial.services.protocol import current_protocol
from hepatrial.services.randomization import do_import_list
from hepatrial.services.screening import do_decide_eligibility, do_screen
from hepatrial.web.trial.models import AllocationSlot, AuditEvent, Subject

CLIENTS = 64
SLOTS = 80  # per site and stratum: room for 64 randomizations in one stratum at one site
SERVER_START_TIMEOUT = 90  # seconds
REQUEST_TIMEOUT = 120  # seconds, per client
# Requests in flight at one moment, at least. All 64 are sent within ~25 ms of the gate opening and
# the last is answered ~2 s later (a peak of 64 here); 8 leaves room for a slow, loaded machine.
MIN_OVERLAP = 8

# One client process: connect, say "ready", wait for the gate (a line or EOF on
# stdin), send the request, print the answer as one JSON line. Stdlib only (run
# with -I -S: no site-packages, a faster start for 64 of them).
CLIENT = r"""
import http.client, json, sys, time
port, path, token = sys.argv[1:4]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=%(timeout)d)
conn.connect()
print("ready", flush=True)
sys.stdin.readline()
sent = time.time()
conn.request("POST", path, body=b"{}",
             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
response = conn.getresponse()
body = response.read().decode("utf-8", "replace")
print(json.dumps({"status": response.status, "body": body, "sent": sent, "answered": time.time()}), flush=True)
""" % {"timeout": REQUEST_TIMEOUT}


# --- fixtures and helpers ------------------------------------------------------------------------------
@pytest.fixture
def roomy_protocol(tmp_path, settings):
    """The packaged protocol with 80 slots per site and stratum, as a file both processes read."""
    text = packaged_protocols()["NCT05940610"].read_text(encoding="utf-8")
    roomy, n = re.subn(r"slots_per_stratum: \d+", f"slots_per_stratum: {SLOTS}", text)
    assert n == 1, "the packaged protocol no longer has one slots_per_stratum"
    path = tmp_path / "roomy.yaml"
    path.write_text(roomy, encoding="utf-8")
    current_protocol.cache_clear()
    settings.HEPATRIAL_PROTOCOL = str(path)
    yield current_protocol()
    current_protocol.cache_clear()


@pytest.fixture
def trial(personas, roomy_protocol, tmp_path):
    """The allocation list imported (sites SYSU3 and GZ2) and a coordinator's API token for site A."""
    alist = make_list(roomy_protocol.randomization, sites=["SYSU3", "GZ2"], seed=20261126, protocol_id=roomy_protocol.id)
    write_list(alist, tmp_path / "allocation.csv")
    do_import_list(personas.actor("statistician"), tmp_path / "allocation.csv")
    _made, token = do_create_token(personas.actor("coordinator_a"), "HTTP concurrency test")
    return token


def enroll_one(personas) -> Subject:
    """The eligible ACLF example screened, confirmed, consented and enrolled at site A."""
    s = do_screen(personas.actor("coordinator_a"), personas.site_a, example("eligible-aclf"))
    do_decide_eligibility(personas.actor("investigator_a"), s, "confirmed")
    do_record_consent(personas.actor("coordinator_a"), s, "1.0", timezone.now() - timedelta(minutes=5))
    return do_enroll(personas.actor("coordinator_a"), s)


def server_database_url() -> tuple[str, str]:
    """(HEPATRIAL_DATABASE_URL of the test database, the name the server must report)."""
    sd = connection.settings_dict
    options = urlencode({k: v for k, v in (sd.get("OPTIONS") or {}).items()})
    if sd["ENGINE"].endswith("sqlite3"):
        name = str(sd["NAME"])
        assert name not in ("", ":memory:") and not name.startswith("file:"), (
            f"the SQLite test database must be a file another process can open, not {name!r} (tests/web_settings.py)"
        )
        path = Path(name).resolve()
        return f"sqlite:///{path}" + (f"?{options}" if options else ""), str(path)
    assert sd["ENGINE"].endswith("postgresql"), f"unexpected database engine {sd['ENGINE']}"
    user = quote(sd["USER"] or "", safe="")
    password = quote(sd["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    url = f"postgresql://{auth}{sd['HOST'] or ''}{port}/{quote(sd['NAME'], safe='')}"
    return url + (f"?{options}" if options else ""), sd["NAME"]


def settings_protocol() -> str:
    """The protocol file the test process runs (set by ``roomy_protocol``), for the server to run too."""
    from django.conf import settings

    assert settings.HEPATRIAL_PROTOCOL, "roomy_protocol must be in use"
    return str(settings.HEPATRIAL_PROTOCOL)


@contextlib.contextmanager
def running_server(home: Path, protocol_file: str) -> Iterator[int]:
    """``hepatrial serve --threads 64`` on the test database; yields its port; stopped on exit."""
    url, db_name = server_database_url()
    env = {k: v for k, v in os.environ.items() if k not in ("HEPATRIAL_DEBUG", "HEPATRIAL_DATABASE_URL")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "hepatrial.web.settings",  # the app's own settings, not the test suite's
        "HEPATRIAL_HOME": str(home),
        "HEPATRIAL_DATABASE_URL": url,
        "HEPATRIAL_PROTOCOL": protocol_file,
    })  # fmt: skip
    connections.close_all()  # nothing of the test's own held open while the server starts
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = home / "server.log"
    with open(log_path, "w", encoding="utf-8") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "hepatrial.cli", "serve", "--port", str(port), "--threads", str(CLIENTS)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"hepatrial serve exited ({server.returncode}) at start-up:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"hepatrial serve did not answer within {SERVER_START_TIMEOUT}s:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        started = log_path.read_text(encoding="utf-8")
        assert f"database {db_name}" in started or f"/{db_name}" in started, (
            f"the server is not on the test database {db_name}:\n{started}"
        )
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def fire(port: int, token: str, paths: list[str]) -> list[dict]:
    """One client process per path, released together once all are connected; their answers in order."""
    clients = [
        subprocess.Popen([sys.executable, "-I", "-S", "-c", CLIENT, str(port), path, token],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for path in paths
    ]
    try:
        for c in clients:  # the gate: every client connected before any request is sent
            line = c.stdout.readline()
            if line.strip() != "ready":
                c.kill()
                pytest.fail(f"a client process did not get ready: {line!r} {c.stderr.read()}")
        for c in clients:
            c.stdin.write("go\n")
            c.stdin.flush()
        answers = []
        for c in clients:
            out, err = c.communicate(timeout=REQUEST_TIMEOUT + 30)
            assert c.returncode == 0, f"a client process failed ({c.returncode}): {err}"
            answer = json.loads(out.strip().splitlines()[-1])
            answer["json"] = json.loads(answer["body"]) if answer["body"].startswith("{") else None
            answers.append(answer)
        return answers
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()


def peak_in_flight(answers: list[dict]) -> int:
    """The most requests that were sent and not yet answered at one moment (did they really overlap?)."""
    events = sorted([(a["sent"], 1) for a in answers] + [(a["answered"], -1) for a in answers],
                    key=lambda e: (e[0], e[1]))  # fmt: skip
    peak = level = 0
    for _t, step in events:
        level += step
        peak = max(peak, level)
    return peak


def describe(answers: list[dict]) -> str:
    """A short summary of the answers that were not 201, for assertion messages."""
    odd = Counter((a["status"], (a["json"] or {}).get("detail", a["body"][:200])) for a in answers if a["status"] != 201)
    return "; ".join(f"{n} x {status} {detail!r}" for (status, detail), n in odd.most_common(5)) or "(all 201)"


# --- the tests -----------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_64_client_processes_randomize_64_subjects_over_http(
    personas, roomy_protocol, trial, audit_rows_removable, tmp_path
):
    subjects = [enroll_one(personas) for _ in range(CLIENTS)]
    ids = [s.subject_id for s in subjects]
    assert len(set(ids)) == CLIENTS
    with running_server(tmp_path / "server-home", settings_protocol()) as port:
        answers = fire(port, trial, [f"/api/subjects/{sid}/randomize" for sid in ids])

    # every client was answered 201 with its own subject and an arm
    assert [a["status"] for a in answers] == [201] * CLIENTS, describe(answers)
    assert [a["json"]["subject_id"] for a in answers] == ids
    assert peak_in_flight(answers) >= MIN_OVERLAP, "the requests did not overlap: the test proves nothing"

    # in the database: 64 distinct slots, each subject exactly one
    claimed = list(AllocationSlot.objects.filter(subject__isnull=False).values("pk", "subject__subject_id", "arm"))
    assert len(claimed) == CLIENTS
    assert len({c["pk"] for c in claimed}) == CLIENTS
    assert Counter(c["subject__subject_id"] for c in claimed) == Counter(ids)  # each exactly once
    assert not Subject.objects.filter(allocation__isnull=True).exists()
    # the arm each client was told is the arm recorded for its subject
    arm_of = {c["subject__subject_id"]: c["arm"] for c in claimed}
    assert {a["json"]["subject_id"]: a["json"]["allocation"]["arm"] for a in answers} == arm_of
    # one audit event per allocation, none for anything else
    events = AuditEvent.objects.filter(action="randomize", model="AllocationSlot")
    assert sorted(events.values_list("subject_id", flat=True)) == sorted(ids)

    # all from site A's ACLF stratum: its first 64 slots, no gap, nothing taken elsewhere
    cell = list(AllocationSlot.objects.filter(site=personas.site_a, stratum="ACLF").order_by("sequence")
                .values("sequence", "block", "block_size", "arm", "subject_id"))  # fmt: skip
    assert [s["subject_id"] is not None for s in cell] == [True] * CLIENTS + [False] * (len(cell) - CLIENTS)
    # blocks balanced where complete: every block wholly claimed has the protocol's ratio exactly
    spec = roomy_protocol.randomization
    blocks: dict[int, list[dict]] = {}
    for s in cell[:CLIENTS]:
        blocks.setdefault(s["block"], []).append(s)
    complete = 0
    for block, slots in blocks.items():
        size = slots[0]["block_size"]
        whole = [s for s in cell if s["block"] == block]
        assert len(whole) == size and all(s["block_size"] == size for s in whole), f"block {block} is malformed"
        if len(slots) < size:  # only the last block may be partly used
            assert block == max(blocks), f"block {block} is incomplete but not the last one used"
            continue
        complete += 1
        expected = {arm: size * r // sum(spec.ratio) for arm, r in zip(spec.arms, spec.ratio)}
        assert Counter(s["arm"] for s in slots) == expected, f"block {block} is unbalanced: {slots}"
    assert complete >= len(blocks) - 1 and complete >= 1


@pytest.mark.django_db(transaction=True)
def test_64_client_processes_randomizing_one_subject_get_one_allocation(
    personas, roomy_protocol, trial, audit_rows_removable, tmp_path
):
    subject = enroll_one(personas)
    with running_server(tmp_path / "server-home", settings_protocol()) as port:
        answers = fire(port, trial, [f"/api/subjects/{subject.subject_id}/randomize"] * CLIENTS)

    statuses = Counter(a["status"] for a in answers)
    assert statuses == {201: 1, 400: CLIENTS - 1}, describe(answers)
    assert peak_in_flight(answers) >= MIN_OVERLAP, "the requests did not overlap: the test proves nothing"
    winner = next(a["json"] for a in answers if a["status"] == 201)
    refusals = [a["json"] for a in answers if a["status"] != 201]
    # a clear refusal: the API's ActionError answer, naming the subject
    assert all(r == {"detail": f"{subject.subject_id} is already randomized.", "errors": {}} for r in refusals), (
        describe(answers)
    )

    slots = list(AllocationSlot.objects.filter(subject__isnull=False))
    assert len(slots) == 1 and slots[0].subject_id == subject.pk
    assert winner["subject_id"] == subject.subject_id and winner["allocation"]["arm"] == slots[0].arm
    assert AuditEvent.objects.filter(action="randomize", model="AllocationSlot").count() == 1

