"""The test suite's external services: PostgreSQL and Chromium.

Plain functions, importable from any conftest or test (``pythonpath = ["tests"]``)::

    from infra.services import postgres_url, browser_path, launch_chromium

The rule everywhere: with ``CI=true`` a missing or unreachable service is a
*failure* (``pytest.fail``), never a skip -- CI (``.ci/run``) starts both
services, so a skip there would hide a broken set-up. On a developer's machine
the same test is skipped with a reason that says how to provide the service
(docs/testing.md).

Environment:

``HEPATRIAL_TEST_DATABASE_URL``
    ``postgresql://USER:PASS@HOST:PORT/DB`` of a database the tests may write to
    (``.ci/run`` starts one). The role needs CREATEDB for Django's test runner.
``HEPATRIAL_TEST_BROWSER``
    a Chromium executable; default ``/usr/bin/chromium`` (Debian's package).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

DATABASE_URL_ENV = "HEPATRIAL_TEST_DATABASE_URL"
BROWSER_ENV = "HEPATRIAL_TEST_BROWSER"
DEFAULT_BROWSER = "/usr/bin/chromium"

#: Launch flags for Debian's Chromium (shared/DESIGN.md, "Browser tests").
#: --no-sandbox: CI runs as root. The networking flags stop Chromium from
#: reaching for hosts this machine cannot reach.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

_HOW_TO_POSTGRES = (
    f"set {DATABASE_URL_ENV}=postgresql://USER:PASS@127.0.0.1:PORT/DB "
    "(docs/testing.md shows how .ci/run starts one)"
)
_HOW_TO_BROWSER = (
    f"apt-get install -y chromium, or set {BROWSER_ENV} to a Chromium executable "
    "(docs/testing.md)"
)


def in_ci() -> bool:
    """True when running under CI (``CI`` is set to something true)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable(reason: str) -> None:
    """A service is missing: fail under CI, skip elsewhere. Never returns.

    Works inside tests and fixtures, and at module level during collection.
    """
    if in_ci():
        pytest.fail(f"{reason} -- CI=true: tests never skip for a missing service", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


# --- PostgreSQL -------------------------------------------------------------


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@functools.lru_cache(maxsize=None)
def _postgres_problem(url: str) -> str | None:
    """None if ``url`` accepts a connection and a query, else what went wrong.

    Cached: each URL is checked once per test session.
    """
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        return f"psycopg is not importable: {exc}"
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return f"PostgreSQL at {redact(url)} is unreachable: {str(exc).strip()}"
    return None


def postgres_status() -> tuple[str | None, str]:
    """``(url, "")`` when PostgreSQL is configured and answers, else ``(None, why)``.

    Calls no pytest function: safe anywhere (e.g. to build a parameter list).
    """
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        return None, f"{DATABASE_URL_ENV} is not set: {_HOW_TO_POSTGRES}"
    if urlsplit(url).scheme not in {"postgres", "postgresql"}:
        return None, f"{DATABASE_URL_ENV} is not a postgresql:// URL: {redact(url)}"
    problem = _postgres_problem(url)
    if problem:
        return None, problem
    return url, ""


def postgres_url(required: bool = True) -> str | None:
    """The URL of the test PostgreSQL database (``HEPATRIAL_TEST_DATABASE_URL``).

    Missing or unreachable: under CI this fails the calling test (never a
    skip); elsewhere it skips when ``required`` and returns None when not --
    use ``required=False`` to run against SQLite only when PostgreSQL is absent.
    """
    url, reason = postgres_status()
    if url is None:
        if required or in_ci():
            unavailable(reason)
        return None
    return url


# --- Chromium -----------------------------------------------------------------


def browser_status() -> tuple[str | None, str]:
    """``(path, "")`` when a Chromium executable is there, else ``(None, why)``. No pytest calls."""
    configured = os.environ.get(BROWSER_ENV, "").strip()
    candidate = configured or DEFAULT_BROWSER
    path = candidate if os.sep in candidate else shutil.which(candidate)
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path, ""
    if configured:
        return None, f"{BROWSER_ENV}={configured} is not an executable file: {_HOW_TO_BROWSER}"
    return None, f"no Chromium at {DEFAULT_BROWSER}: {_HOW_TO_BROWSER}"


def browser_path(required: bool = True) -> str | None:
    """The Chromium executable: ``HEPATRIAL_TEST_BROWSER``, else /usr/bin/chromium.

    Missing: fails under CI, skips elsewhere (or returns None when not ``required``).
    """
    path, reason = browser_status()
    if path is None:
        if required or in_ci():
            unavailable(reason)
        return None
    return path


def launch_chromium(playwright: Any, *, extra_args: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """Launch headless Debian Chromium with the project's flags.

    ``playwright`` is a started ``sync_playwright()`` (or async) object; returns
    its ``Browser``. ``kwargs`` go to ``chromium.launch`` (e.g. ``slow_mo``).
    """
    kwargs.setdefault("headless", True)
    return playwright.chromium.launch(
        executable_path=browser_path(),
        args=[*CHROMIUM_ARGS, *extra_args],
        **kwargs,
    )


# --- one Playwright and one Chromium per process -------------------------------------
#
# Playwright's sync API allows one running instance per thread: a second
# sync_playwright() fails ("using Playwright Sync API inside the asyncio loop").
# Fixtures copied into several conftests would each start one, so they share
# these reference-counted instances instead; the last release stops them.

_shared: dict[str, Any] = {}
_users: dict[str, int] = {"playwright": 0, "chromium": 0}


def acquire_playwright() -> Any:
    """The process's started sync Playwright; pair each call with release_playwright().

    Sets DJANGO_ALLOW_ASYNC_UNSAFE=true: while sync Playwright runs, an asyncio
    loop is running in this thread and Django would refuse ORM calls made by a
    test that also drives the browser (pytest-playwright's advice for Django).
    """
    if "playwright" not in _shared:
        from playwright.sync_api import sync_playwright

        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        manager = sync_playwright()
        _shared["playwright"] = manager.start()
        _shared["playwright_manager"] = manager
    _users["playwright"] += 1
    return _shared["playwright"]


def release_playwright() -> None:
    _users["playwright"] -= 1
    if _users["playwright"] <= 0:
        _users["playwright"] = 0
        manager = _shared.pop("playwright_manager", None)
        _shared.pop("playwright", None)
        if manager is not None:
            manager.__exit__(None, None, None)


def acquire_chromium() -> Any:
    """The process's headless Chromium (launch_chromium); pair with release_chromium()."""
    if "chromium" not in _shared:
        playwright = acquire_playwright()
        try:
            _shared["chromium"] = launch_chromium(playwright)
        except BaseException:
            release_playwright()
            raise
    _users["chromium"] += 1
    return _shared["chromium"]


def release_chromium() -> None:
    _users["chromium"] -= 1
    if _users["chromium"] <= 0:
        _users["chromium"] = 0
        browser = _shared.pop("chromium", None)
        if browser is not None:
            try:
                browser.close()
            finally:
                release_playwright()


# --- a local web server -----------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass


@contextlib.contextmanager
def serve_directory(directory: str | os.PathLike[str]) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (an ephemeral port) in a thread.

    Yields the base URL, e.g. ``http://127.0.0.1:41234/``; the server stops on exit.
    """
    handler = functools.partial(_QuietHandler, directory=str(Path(directory)))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- for tests that start their own servers ---------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (for a server a test starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def new_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server (its URL), dropped afterwards:
    for a test that runs hepatrial's own commands or server on a database of its own."""
    import uuid

    import psycopg

    server = postgres_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
