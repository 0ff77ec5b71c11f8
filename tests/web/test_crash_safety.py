"""Crash safety (issue #8): form saves over HTTP against `hepatrial serve` while the
server is killed with SIGKILL 20 times at random moments and started again each time.

Afterwards:
- every save the server acknowledged (HTTP 200) is present: its value is in the audit trail;
- no save is half-present: each form's version, its audit rows for the two fields every
  save changes, and its stored value agree, so a save is all there or not at all;
- the audit trail's hash chain verifies (`hepatrial audit verify`).

On SQLite (a new demo database) and on PostgreSQL (a database of its own on the test server)."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from infra.services import free_port, new_postgres_database

KILLS = 20
WRITERS = 4
SERVER_START_TIMEOUT = 120


def hepatrial(env, *args):
    done = subprocess.run([sys.executable, "-m", "hepatrial.cli", *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@contextmanager
def sqlite_trial(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(tmp_path / "home")
    db = tmp_path / "home" / "hepatrial.sqlite3"

    def query(sql, params=()):
        con = sqlite3.connect(db)
        try:
            return con.execute(sql.replace("%s", "?"), params).fetchall()
        finally:
            con.close()

    yield env, query


@contextmanager
def postgres_trial(tmp_path):
    import psycopg

    with new_postgres_database("hepatrial_crash") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
        env.update({"HEPATRIAL_HOME": str(tmp_path / "home"), "HEPATRIAL_DATABASE_URL": url})

        def query(sql, params=()):
            with psycopg.connect(url) as con:
                return con.execute(sql, params).fetchall()

        yield env, query


class Server:
    """`hepatrial serve` in a process of its own, started again after each kill."""

    def __init__(self, env, home: Path):
        self.env, self.port, self.log = env, free_port(), home / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hepatrial.cli", "serve", "--port", str(self.port), "--threads", "8"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"hepatrial serve exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                con.request("GET", "/login/")
                if con.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"hepatrial serve did not answer within {SERVER_START_TIMEOUT}s")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


class Writer(threading.Thread):
    """Saves one lab panel again and again over the API, each save with a value of its own."""

    def __init__(self, port: int, token: str, subject: str, visit: str, number: int, up: threading.Event):
        super().__init__(daemon=True)
        self.port, self.token, self.subject, self.visit, self.up = port, token, subject, visit, up
        self.path = f"/api/subjects/{subject}/visits/{visit}/forms/lab_panel"
        self.base = 100.0 + number * 0.01  # each writer's values differ in the hundredths
        self.acknowledged: list[float] = []
        self.unknown: list[float] = []  # no answer: the server died around it
        self.unexpected: list[str] = []
        self.stop = False
        self.count = 0

    def _call(self, method: str, body=None):
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        con.request(method, self.path, body=json.dumps(body) if body is not None else None,
                    headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})  # fmt: skip
        response = con.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def run(self) -> None:
        current = None
        while not self.stop:
            if not self.up.wait(timeout=0.2):
                current = None
                continue
            try:
                if current is None:
                    status, current = self._call("GET")
                    if status != 200:
                        self.unexpected.append(f"GET {status} {current}")
                        return
                self.count += 1
                value = round(self.base + self.count * 0.1, 2)
                # both fields change in every save (INR flips against the value stored now)
                data = {**current["data"], "total_bilirubin": value, "inr": 1.7 if current["data"].get("inr") == 1.6 else 1.6}
                body = {"values": data, "expected_version": current["version"], "visit_date": current["visit_date"],
                        "reason": f"crash-safety save {self.count}", "confirmations": {}}  # fmt: skip
                try:
                    status, answer = self._call("PUT", body)
                except (OSError, http.client.HTTPException):
                    self.unknown.append(value)
                    current = None
                    time.sleep(0.05)
                    continue
                if status == 200:
                    self.acknowledged.append(value)
                    current = {**current, "data": data, "version": answer["version"]}
                elif status == 409:  # a save we got no answer for did commit: read the form again
                    current = None
                else:
                    self.unexpected.append(f"PUT {status} {answer}")
                    current = None
            except (OSError, http.client.HTTPException):
                current = None
                time.sleep(0.05)


@pytest.mark.parametrize("database", [sqlite_trial, postgres_trial], ids=["sqlite", "postgresql"])
def test_saves_survive_sigkill(tmp_path, database):
    rng = random.Random(20261126)
    with database(tmp_path) as (env, query):
        hepatrial(env, "demo-trial", "--subjects", "2", "--seed", "4")
        token = hepatrial(env, "token", "coordinator", "crash safety").stdout.strip().splitlines()[-1]
        fields = lambda visit, name: f"{visit}/lab_panel.{name}"  # noqa: E731

        def audit_count(subject, visit, name):
            return query("SELECT COUNT(*) FROM trial_auditevent WHERE subject_id = %s AND field = %s",
                         (subject, fields(visit, name)))[0][0]  # fmt: skip

        def version(subject, visit):
            return query("SELECT f.version FROM trial_formentry f JOIN trial_subject s ON s.id = f.subject_id "
                         "WHERE s.subject_id = %s AND f.visit_id = %s AND f.form_id = 'lab_panel' AND f.sequence = 1",
                         (subject, visit))[0][0]  # fmt: skip

        forms = query("SELECT s.subject_id, f.visit_id FROM trial_formentry f JOIN trial_subject s ON s.id = f.subject_id "
                      "WHERE f.form_id = 'lab_panel' AND f.sequence = 1 ORDER BY s.subject_id, f.visit_id")[:WRITERS]
        assert len(forms) == WRITERS, forms
        before = {(s, v): (version(s, v), audit_count(s, v, "total_bilirubin"), audit_count(s, v, "inr")) for s, v in forms}
        server = Server(env, tmp_path / "home")
        up = threading.Event()
        writers = [Writer(server.port, token, s, v, n, up) for n, (s, v) in enumerate(forms)]
        server.start()
        up.set()
        for writer in writers:
            writer.start()
        try:
            for _kill in range(KILLS):
                time.sleep(rng.uniform(0.2, 1.5))  # saves in flight
                server.kill()
                up.clear()
                server.start()
                up.set()
            time.sleep(1.0)
        finally:
            for writer in writers:
                writer.stop = True
            for writer in writers:
                writer.join(timeout=30)
            server.kill()

        acknowledged = sum(len(w.acknowledged) for w in writers)
        assert not [u for w in writers for u in w.unexpected], [u for w in writers for u in w.unexpected][:5]
        assert acknowledged > 10 * len(writers), "too few saves to tell anything"
        for writer, (subject, visit) in zip(writers, forms):
            v0, bili0, inr0 = before[(subject, visit)]
            saves = version(subject, visit) - v0
            # all or nothing: one version and one audit row per field for each save present
            assert audit_count(subject, visit, "total_bilirubin") - bili0 == saves
            assert audit_count(subject, visit, "inr") - inr0 == saves
            stored = {float(json.loads(row[0]) if isinstance(row[0], str) else row[0]) for row in query(
                "SELECT new FROM trial_auditevent WHERE subject_id = %s AND field = %s", (subject, fields(visit, "total_bilirubin")))}  # fmt: skip
            missing = [value for value in writer.acknowledged if value not in stored]
            assert not missing, f"acknowledged saves lost: {missing[:5]}"
            present_unknown = [value for value in writer.unknown if value in stored]
            assert saves == len(writer.acknowledged) + len(present_unknown)
        verified = hepatrial(env, "audit", "verify")
        assert "audit trail verified" in verified.stdout
        print(f"\n{database.__name__}: {KILLS} kills, {acknowledged} acknowledged saves checked, "
              f"{sum(len(w.unknown) for w in writers)} saves without an answer")
