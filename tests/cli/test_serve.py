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
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from infra.services import free_port


def start(home, port, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEPATRIAL_", "DJANGO_"))}
    env["HEPATRIAL_HOME"] = str(home)
    env.update(settings)
    return subprocess.Popen([sys.executable, "-m", "hepatrial.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def wait_until_it_answers(server, port) -> bool:
    """Wait (up to 30 s) for the first answer of ``server``; False if it exited first."""
    for _ in range(300):
        try:
            urllib.request.build_opener(NoRedirect).open(f"http://127.0.0.1:{port}/login/", timeout=2)
            return True
        except urllib.error.HTTPError:  # an answer too (a redirect to https://)
            return True
        except OSError:
            if server.poll() is not None:
                return False
            time.sleep(0.1)
    return False


def serve_until_ready(home) -> str:
    """Start serve, wait until it answers, stop it; return what it printed."""
    port = free_port()
    server = start(home, port)
    try:
        wait_until_it_answers(server, port)
    finally:
        server.terminate()
        stopping = time.monotonic()
        out, _err = server.communicate(timeout=30)
    # stopped at its first answer, perhaps while a worker still boots: that one exits at once
    # too (hepatrial.web.server), rather than after the 30 s graceful timeout
    assert time.monotonic() - stopping < 10, out
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


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the name (state, parent, ...); None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def test_serve_runs_worker_processes_that_die_with_it(tmp_path):
    """Requests are served by worker processes (hepatrial.web.server: one Python process runs
    one thread of Python at a time); a server killed outright (SIGKILL, as in a crash) takes
    its workers with it: none is left holding the port or serving."""
    port = free_port()
    server = start(tmp_path, port)
    try:
        assert wait_until_it_answers(server, port)
        for _ in range(100):  # (the first worker may answer before the last is forked)
            workers = _children(server.pid)
            if len(workers) >= 4:
                break
            time.sleep(0.1)
        assert len(workers) == 4, workers  # serve's default
        server.kill()
        server.wait(timeout=10)
        for _ in range(100):
            alive = {pid for pid in workers if (fields := _stat(pid)) is not None and fields[0] != "Z"}
            if not alive:
                break
            time.sleep(0.05)
        assert not alive, alive
        try:
            answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2).status
        except urllib.error.HTTPError as err:
            answer = err.code
        except OSError:  # refused (or reset: a SYN meeting one of the closed connections' TIME-WAIT)
            answer = None
        assert answer is None, f"something still answers on the port: {answer}"
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=30)


def test_behind_an_https_proxy_the_app_knows_its_requests_are_secure(tmp_path):
    """HEPATRIAL_HTTPS=1 (docs/security.md): the proxy in front of serve ends TLS and says so
    in X-Forwarded-Proto, which Django reads (gunicorn itself trusts no forwarded header).
    A request that did not come through TLS is sent to https://."""
    port = free_port()
    server = start(tmp_path, port, HEPATRIAL_HTTPS="1", HEPATRIAL_ALLOWED_HOSTS="127.0.0.1")
    try:
        assert wait_until_it_answers(server, port)
        plain = urllib.request.Request(f"http://127.0.0.1:{port}/login/")
        proxied = urllib.request.Request(f"http://127.0.0.1:{port}/login/", headers={"X-Forwarded-Proto": "https"})
        with pytest.raises(urllib.error.HTTPError) as redirected:
            urllib.request.build_opener(NoRedirect).open(plain, timeout=5)
        assert redirected.value.code == 301 and redirected.value.headers["Location"] == f"https://127.0.0.1:{port}/login/"
        with urllib.request.urlopen(proxied, timeout=5) as answer:
            assert answer.status == 200
            assert "max-age=31536000" in answer.headers["Strict-Transport-Security"]
            assert "Secure" in answer.headers["Set-Cookie"]
    finally:
        server.terminate()
        server.communicate(timeout=30)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the redirect is the answer under test
        return None
