"""Benchmark: the randomize API under concurrent clients, over HTTP against a
real ``hepatrial serve`` (gunicorn), on SQLite or PostgreSQL.

    uv run python benchmarks/randomize.py                      # SQLite in a temp folder
    uv run python benchmarks/randomize.py --database-url postgresql://user:pass@127.0.0.1:5432/db

Prints the SQL statements one randomize request runs (counted in-process,
before the server starts), then one table: clients, requests, throughput,
latency p50/p95/p99, the server's CPU time per request (its processes'; Linux; on
PostgreSQL the database's own processes are not in it: it is what the Python
side costs, and it hardly depends on what else the machine is doing) and the
number of errors; then the duplicate allocations (must be 0).
Target (issue #4): p95 < 100 ms at 64 clients on a 2-core machine. Each
request randomizes a different subject. ``--workers`` and ``--threads`` set the
server's worker processes and the threads of each (default 4 x 16: 64 threads,
as issue #4 asks); before the first level as many authenticated GETs as threads
are sent at once (which also opens the threads' database connections).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from serving import free_port, percentile, server_cpu_seconds  # benchmarks/serving.py

LEVELS = (1, 8, 32, 64)


def prepare(home: Path, database_url: str | None, subjects_needed: int, root: Path) -> tuple[dict, list[str], str]:
    """A database with the demo site, a roomy allocation list and enrolled subjects; returns (env, subject ids, token)."""
    env = {**os.environ, "HEPATRIAL_HOME": str(home)}
    env.pop("HEPATRIAL_DEBUG", None)
    text = (root / "src/hepatrial/protocols/nct05940610.yaml").read_text(encoding="utf-8")
    protocol_file = home / "protocol.yaml"
    protocol_file.write_text(re.sub(r"slots_per_stratum: \d+", f"slots_per_stratum: {subjects_needed + 8}", text), encoding="utf-8")
    env["HEPATRIAL_PROTOCOL"] = str(protocol_file)
    if database_url:
        env["HEPATRIAL_DATABASE_URL"] = database_url
    os.environ.update({k: v for k, v in env.items() if k.startswith("HEPATRIAL_")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "hepatrial.web.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from hepatrial.core.randomization import make_list, write_list
    from hepatrial.services.access import Actor
    from hepatrial.services.accounts import do_create_token, ensure_demo
    from hepatrial.services.enrollment import do_enroll, do_record_consent
    from hepatrial.services.protocol import current_protocol
    from hepatrial.services.randomization import do_import_list
    from hepatrial.services.screening import do_decide_eligibility, do_screen
    from hepatrial.web.trial.models import Site

    call_command("migrate", interactive=False, verbosity=0)
    if ensure_demo() is None:
        sys.exit("the database is not empty: give an empty PostgreSQL database")
    users = {u.username: u for u in get_user_model().objects.all()}
    protocol = current_protocol()
    list_file = home / "allocation.csv"
    write_list(make_list(protocol.randomization, sites=["SYSU3"], seed=2**61 - 1, protocol_id=protocol.id), list_file)
    do_import_list(Actor(users["statistician"], route="system"), list_file)
    candidate = json.loads((root / "examples/eligible-aclf.json").read_text(encoding="utf-8"))
    site = Site.objects.get(code="SYSU3")
    coordinator, investigator = Actor(users["coordinator"]), Actor(users["investigator"])
    ids = []
    for i in range(subjects_needed):
        screening = do_screen(coordinator, site, {**candidate, "id": f"B-{i:04d}"})
        do_decide_eligibility(investigator, screening, "confirmed")
        do_record_consent(coordinator, screening, "1.0", timezone.now() - timedelta(minutes=5))
        ids.append(do_enroll(coordinator, screening).subject_id)
    _made, token = do_create_token(coordinator, "benchmark")
    from django.db import connections

    connections.close_all()
    return env, ids, token


def count_queries(token: str, subject_id: str) -> int:
    """The SQL statements (BEGIN/COMMIT/SAVEPOINT included) of one randomize request, in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get("/api/me")  # the token's last use is recorded at most once a minute: not in the count
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/subjects/{subject_id}/randomize", data=b"{}", content_type="application/json")
    assert response.status_code == 201, response.content
    connection.close()
    return len(queries.captured_queries)


def warm_up(base: str, token: str, threads: int) -> None:
    """``threads`` concurrent authenticated GETs: the server's threads serve one each (most of them: the
    worker processes take connections as they come), opening their database connections."""
    barrier = threading.Barrier(threads)

    def one() -> None:
        barrier.wait()
        request = urllib.request.Request(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()

    pool = [threading.Thread(target=one) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def run_level(base: str, token: str, subject_ids: list[str], clients: int) -> tuple[list[float], int, float]:
    """``clients`` threads, each randomizing its share of the subjects; returns (latencies, errors, seconds)."""
    shares = [subject_ids[i::clients] for i in range(clients)]
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(ids: list[str]) -> None:
        nonlocal errors
        barrier.wait()
        for sid in ids:
            request = urllib.request.Request(
                f"{base}/api/subjects/{sid}/randomize", data=b"{}", method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )  # fmt: skip
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    ok = response.status == 201
            except Exception:  # noqa: BLE001 - counted, reported in the table
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an EMPTY PostgreSQL database (default: SQLite in a temp folder)")
    parser.add_argument("--per-client", type=int, default=4, help="randomizations each client makes at each level")
    parser.add_argument("--workers", type=int, default=4, help="worker processes of the server (1-32)")
    parser.add_argument("--threads", type=int, default=16, help="threads of each worker process (1-64)")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    needed = sum(LEVELS) * args.per_client + 1  # + 1: the subject of the query count
    with tempfile.TemporaryDirectory(prefix="hepatrial-bench-") as tmp:
        home = Path(tmp)
        print(f"preparing {needed} enrolled subjects ...", file=sys.stderr)
        env, ids, token = prepare(home, args.database_url, needed, root)
        queries = count_queries(token, ids.pop())
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "hepatrial.cli", "serve", "--port", str(port), "--workers", str(args.workers),
             "--threads", str(args.threads)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{base}/login/", timeout=2)
                    break
                except OSError:
                    time.sleep(0.1)
            warm_up(base, token, args.workers * args.threads)
            rows, offset = [], 0
            for clients in LEVELS:
                batch = ids[offset : offset + clients * args.per_client]
                offset += len(batch)
                cpu_before = server_cpu_seconds(server.pid)
                latencies, errors, seconds = run_level(base, token, batch, clients)
                cpu_ms = (server_cpu_seconds(server.pid) - cpu_before) * 1000 / len(batch)
                rows.append((clients, len(batch), len(batch) / seconds, statistics.median(latencies) * 1000,
                             percentile(latencies, 95) * 1000, percentile(latencies, 99) * 1000, cpu_ms, errors))  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
        from hepatrial.web.trial.models import AllocationSlot

        claimed = AllocationSlot.objects.filter(subject__isnull=False)
        duplicates = claimed.count() - claimed.values("subject").distinct().count()
        engine = "PostgreSQL" if args.database_url else "SQLite (WAL)"
        print(f"\nrandomize API over HTTP, {engine}, {args.workers} worker processes x {args.threads} threads, {os.cpu_count()} CPUs; "
              f"{queries} SQL statements per request")
        print("| clients | requests | req/s | p50 ms | p95 ms | p99 ms | server CPU ms/req | errors |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c, n, rps, p50, p95, p99, cpu, err in rows:
            print(f"| {c} | {n} | {rps:.1f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {cpu:.1f} | {err} |")
        print(f"\nallocations: {claimed.count()} for {claimed.values('subject').distinct().count()} subjects; "
              f"duplicates: {duplicates}")  # fmt: skip


if __name__ == "__main__":
    main()
