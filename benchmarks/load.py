"""Benchmark: 32 simulated coordinators working in the web app at once, over HTTP against a
real ``hepatrial serve`` (gunicorn), on SQLite or PostgreSQL (issue #8).

    uv run python benchmarks/load.py                                    # SQLite in a temp folder
    uv run python benchmarks/load.py --database-url postgresql://user:pass@127.0.0.1:5432/db

Each coordinator logs in through the login form, then opens a subject's page, opens one
of its lab panels and saves it with a changed value (and the reason for the change), and
again, as a person would: cookies, CSRF tokens and all, and a pause between one request
and the next (``--think``, 1-5 s at random: reading a page and typing a lab panel take a
person longer, so this is a busy ward). ``--think 0`` makes it a stress test: each
coordinator sends the next request as soon as the last one answers. Each coordinator has
a form of their own, so no save conflicts with another's.

The coordinators arrive one after the other over ``--ramp`` seconds (default 32: one a
second; a ward's staff do not all sign in in the same second, and each sign-in is a
deliberately slow password hash). The table counts the requests sent in the ``--seconds``
after the last has arrived, when all 32 are at work, and every login. ``--ramp 0`` signs
everyone in at once.

Prints one table per database: requests, requests/s, latency p50/p95/p99 by kind
(login, subject page, form page, form save) and errors. The target (issue #8) is
p95 < 100 ms for a form save with 0 errors, on a 2-core machine. The clients run in this
process (threads), on the same machine as the server.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from serving import free_port, percentile, server_cpu_seconds  # benchmarks/serving.py

CLIENTS = 32
PASSWORD = "load-benchmark-password-2026"

SETUP = r"""
import json, sys
import django
django.setup()
from django.db import transaction
from django.utils import timezone
from hepatrial.services.accounts import SYSTEM, do_create_staff
from hepatrial.web.trial.models import FormEntry, Site
clients, password = int(sys.argv[1]), sys.argv[2]
site = Site.objects.get(code="SYSU3")
tz = __import__("zoneinfo").ZoneInfo(site.time_zone)
entries = list(FormEntry.objects.filter(form_id="lab_panel", sequence=1, subject__site=site, visit_id__startswith="day_")
               .select_related("subject").order_by("subject__subject_id", "visit_id")[:clients])
assert len(entries) == clients, f"only {len(entries)} lab panels"
out = []
for n, e in enumerate(entries):
    do_create_staff(SYSTEM, f"coord{n:02d}", "coordinator", [site], password)
    values = {}
    for k, v in e.data.items():
        if k == "sample_datetime" and v:
            values[k] = __import__("datetime").datetime.fromisoformat(v).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
        elif v is not None:
            values[k] = str(v).lower() if isinstance(v, bool) else str(v)
    out.append({"user": f"coord{n:02d}", "subject": e.subject.subject_id, "visit": e.visit_id, "version": e.version,
                "visit_date": e.visit_date.isoformat() if e.visit_date else "", "values": values})
print(json.dumps(out))
"""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 302 is an answer here, not a hop
        return None


class Coordinator(threading.Thread):
    def __init__(self, base: str, plan: dict, window: tuple[float, float], arrive: float, results: dict, lock: threading.Lock,
                 think: tuple[float, float]):  # fmt: skip
        super().__init__(daemon=True)
        self.base, self.plan, self.results, self.lock = base, plan, results, lock
        self.measured_from, self.until = window
        self.arrive, self.think = arrive, think
        self.rng = random.Random(plan["user"])
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def _csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def _request(self, kind: str, path: str, data: dict | None = None, expect: int = 200) -> None:
        if self.think[1] > 0:
            time.sleep(self.rng.uniform(*self.think))
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self._csrf()}).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path})
        started = time.perf_counter()
        if kind not in ("login page", "login") and started < self.measured_from:
            kind += " (arriving)"  # before everyone is at work: not in the table
        try:
            with self.opener.open(request, timeout=30) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
        except OSError as err:
            status = f"{type(err).__name__}"
        elapsed = time.perf_counter() - started
        with self.lock:
            self.results.setdefault(kind, []).append(elapsed)
            if status != expect:
                self.results.setdefault("errors", []).append(f"{kind} {path}: {status}")

    def run(self) -> None:
        plan = self.plan
        time.sleep(max(0.0, self.arrive - time.perf_counter()))
        self._request("login page", "/login/")
        self._request("login", "/login/", {"username": plan["user"], "password": PASSWORD}, expect=302)
        form = f"/subjects/{plan['subject']}/visits/{plan['visit']}/lab_panel/"
        n = 0
        while time.perf_counter() < self.until:
            n += 1
            self._request("subject page", f"/subjects/{plan['subject']}/")
            self._request("form page", form)
            bilirubin = 100 + (n % 400) + float(plan["user"][5:]) / 100
            values = {**plan["values"], "total_bilirubin": f"{bilirubin:.2f}"}
            errors_before = len(self.results.get("errors", []))
            self._request("form save", form, {**values, "version": str(plan["version"]), "visit_date": plan["visit_date"],
                                              "reason": f"load benchmark save {n}"}, expect=302)  # fmt: skip
            if len(self.results.get("errors", [])) == errors_before:
                plan["version"] += 1


def run_level(env: dict, plans: list[dict], seconds: float, label: str, think: tuple[float, float], ramp: float,
              workers: int | None, threads: int | None) -> dict:  # fmt: skip
    port = free_port()
    log = open(Path(env["HEPATRIAL_HOME"]) / "server.log", "a", encoding="utf-8")
    command = [sys.executable, "-m", "hepatrial.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers)] if workers else []
    command += ["--threads", str(threads)] if threads else []
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/login/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        results: dict = {}
        lock = threading.Lock()
        started = time.perf_counter()
        window = (started + ramp, started + ramp + seconds)
        clients = [Coordinator(base, plan, window, started + ramp * n / len(plans), results, lock, think)
                   for n, plan in enumerate(plans)]  # fmt: skip
        for c in clients:
            c.start()
        time.sleep(max(0.0, window[0] - time.perf_counter()))
        cpu_from = server_cpu_seconds(server.pid), _own_cpu_seconds()
        time.sleep(max(0.0, window[1] - time.perf_counter()))
        cpu_to = server_cpu_seconds(server.pid), _own_cpu_seconds()
        for c in clients:
            c.join()
        results["wall"] = time.perf_counter() - started
        results["measured"] = seconds
        results["server cpu"] = (cpu_to[0] - cpu_from[0]) / seconds  # busy cores while all were at work
        results["client cpu"] = (cpu_to[1] - cpu_from[1]) / seconds
        results["label"] = label
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _own_cpu_seconds() -> float:
    """This process's user + system CPU seconds (the simulated coordinators)."""
    times = os.times()
    return times.user + times.system


def prepare(home: Path, database_url: str | None, clients: int) -> tuple[dict, list[dict]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(home)
    if database_url:
        env["HEPATRIAL_DATABASE_URL"] = database_url
    print(f"preparing {label_of(database_url)}: demo trial, {clients} coordinators ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "hepatrial.cli", "demo-trial", "--subjects", "20", "--seed", "11"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    made = subprocess.run([sys.executable, "-c", SETUP, str(clients), PASSWORD], env={**env, "DJANGO_SETTINGS_MODULE": "hepatrial.web.settings"},
                          check=True, capture_output=True, text=True)  # fmt: skip
    return env, json.loads(made.stdout.strip().splitlines()[-1])


def label_of(database_url: str | None) -> str:
    return "PostgreSQL" if database_url else "SQLite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", action="append", default=[],
                        help="A new, empty PostgreSQL database to run on as well as SQLite (its tables are created).")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", default="1,5", help="A coordinator's pause before each request: MIN,MAX seconds, or 0.")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="Simulated coordinators (at most 32: the demo's lab panels).")
    parser.add_argument("--workers", type=int, default=None, help="The server's worker processes (default: serve's, 4).")
    parser.add_argument("--threads", type=int, default=None, help="The threads of each worker process (default: serve's, 8).")
    parser.add_argument("--ramp", type=float, default=32.0, help="Seconds over which the coordinators arrive (0: all at once).")
    args = parser.parse_args()
    low, _comma, high = args.think.partition(",")
    think = (float(low), float(high or low))
    rows = []
    with tempfile.TemporaryDirectory(prefix="hepatrial-load-") as tmp:
        for n, url in enumerate([None, *args.database_url]):
            env, plans = prepare(Path(tmp) / f"db{n}", url, args.clients)
            rows.append(run_level(env, plans, args.seconds, label_of(url), think, args.ramp, args.workers, args.threads))
    print()
    print(f"{args.clients} coordinators arriving over {args.ramp:.0f} s, then {args.seconds:.0f} s all at work, pausing {args.think} s "
          "before each request; latency in ms (logins: all of them; the rest: those sent when all were at work)")  # fmt: skip
    print()
    print("| database | kind | requests | requests/s | p50 | p95 | p99 | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        errors = r.get("errors", [])
        for kind in ("login", "subject page", "form page", "form save"):
            times = r.get(kind, [])
            errs = sum(1 for e in errors if e.startswith(kind + " "))  # arriving or at work: every error counts
            rate = len(times) / (r["wall"] if kind == "login" else r["measured"])
            print(f"| {r['label']} | {kind} | {len(times):,} | {rate:.1f} | {percentile(times, 50) * 1000:.0f} | "
                  f"{percentile(times, 95) * 1000:.0f} | {percentile(times, 99) * 1000:.0f} | {errs} |")  # fmt: skip
        total = sum(len(r.get(k, [])) for k in ("subject page", "form page", "form save"))
        print(f"| {r['label']} | all at work | {total:,} | {total / r['measured']:.1f} | | | | {len(errors)} |")
    print()
    for r in rows:
        print(f"{r['label']}: while all were at work the server used {r['server cpu']:.2f} cores, the simulated coordinators "
              f"{r['client cpu']:.2f} (same machine)")  # fmt: skip
    for r in rows:
        for e in r.get("errors", [])[:5]:
            print(f"{r['label']}: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
