"""Fixtures for tests that need PostgreSQL or a browser.

They apply to tests under tests/infra/. To use them elsewhere, import them
into that folder's conftest (importing a fixture registers it there), all of
the ones you use *and* the ones they depend on -- the simplest is all six::

    # tests/web/conftest.py
    from infra.conftest import (  # noqa: F401  (fixtures)
        browser_executable, chromium, chromium_page, pg_url, static_server, sync_pw,
    )

Importing them into several conftests is safe: Playwright and Chromium are
shared by the whole process (services.acquire_playwright / acquire_chromium),
since a second sync Playwright in the same thread cannot start.

The same rule as infra.services: with CI=true a missing service fails the test;
elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from infra import services


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL database (HEPATRIAL_TEST_DATABASE_URL)."""
    return services.postgres_url()


@pytest.fixture(scope="session")
def browser_executable() -> str:
    """Path of the Chromium executable (HEPATRIAL_TEST_BROWSER or /usr/bin/chromium)."""
    return services.browser_path()


@pytest.fixture(scope="session")
def sync_pw(browser_executable: str):
    """A started Playwright (sync API), shared by the whole process.

    services.acquire_playwright(): one instance however many conftests import
    this fixture; sets DJANGO_ALLOW_ASYNC_UNSAFE=true (see its docstring).
    """
    playwright = services.acquire_playwright()
    try:
        yield playwright
    finally:
        services.release_playwright()


@pytest.fixture(scope="session")
def chromium(browser_executable: str):
    """One headless Chromium for the process (services.acquire_chromium)."""
    browser = services.acquire_chromium()
    try:
        yield browser
    finally:
        services.release_chromium()


@pytest.fixture
def chromium_page(chromium):
    """A fresh page in its own browser context (no cookies or storage shared between tests).
    A page that breaks the Content-Security-Policy (an inline script or style, something
    from elsewhere) fails the test: the browser refused part of it."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    try:
        yield page
    finally:
        context.close()
    assert not refused, f"the browser refused parts of a page (Content-Security-Policy): {refused[:3]}"


@pytest.fixture
def static_server() -> Iterator[Callable[[str | os.PathLike[str]], str]]:
    """A factory: ``static_server(directory)`` -> base URL serving it on 127.0.0.1.

    Servers stop at the end of the test.
    """
    with ExitStack() as stack:

        def start(directory: str | os.PathLike[str]) -> str:
            return stack.enter_context(services.serve_directory(Path(directory)))

        yield start
