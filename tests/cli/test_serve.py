"""`hepatrial serve` on a new folder, as a newcomer runs it: the database is
created, the demo site and users are printed once, and a demo allocation list
is imported so randomization can be tried; a second start keeps everything
and verifies the list. The app it serves is ready before the first request."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from infra.services import free_port


def start(home, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(home)
    return subprocess.Popen([sys.executable, "-m", "hepatrial.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def serve_until_ready(home) -> str:
    """Start serve, wait until it answers, stop it; return what it printed."""
    port = free_port()
    server = start(home, port)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
    finally:
        server.terminate()
        out, _err = server.communicate(timeout=30)
    assert "Serving on" in out, out
    return out


def test_a_new_folder_gets_the_demo_site_users_and_an_allocation_list(tmp_path):
    first = serve_until_ready(tmp_path)
    assert "created the demo site SYSU3" in first and "statistician" in first
    assert "A demo allocation list (random seed, " in first
    assert (tmp_path / "demo-allocation-list.csv").exists()
    db = sqlite3.connect(tmp_path / "hepatrial.sqlite3")
    lists = db.execute("select count(*), sum(rows) from trial_allocationlist").fetchone()
    slots = db.execute("select count(*), count(distinct stratum) from trial_allocationslot").fetchone()
    assert lists[0] == 1 and slots == (lists[1], 2)
    db.close()
    second = serve_until_ready(tmp_path)
    assert "demo site" not in second and "allocation list" not in second  # nothing created twice


def test_the_served_app_is_ready_before_its_first_request(tmp_path):
    """hepatrial.web.wsgi (what serve runs) builds the URL patterns, the protocol and every one
    of hepatrial's templates at import, then freezes what the process keeps for life out of
    the garbage collector's full collections (benchmarks/README.md: they took 70-140 ms each)."""
    import hepatrial.web

    templates = [p for folder in Path(hepatrial.web.__file__).parent.rglob("templates") for p in folder.rglob("*.html")]
    code = ("import gc, json, hepatrial.web.wsgi\n"
            "from django.template import engines\n"
            "cache = engines['django'].engine.template_loaders[0].get_template_cache\n"
            "print(json.dumps({'frozen': gc.get_freeze_count(), 'tracked': len(gc.get_objects()), 'templates': len(cache)}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ready = json.loads(out.stdout.strip().splitlines()[-1])
    assert ready["templates"] >= len(templates) > 20
    assert ready["tracked"] < ready["frozen"] / 10, ready  # nearly all it holds is out of the collector's full walks
