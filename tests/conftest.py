"""Shared fixtures: the packaged protocol; ending a transactional test although
audit rows are append-only."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from pytest_django.plugin import blocking_manager_key

from hepatrial.core.protocol import load_protocol


@pytest.fixture(scope="session")
def protocol():
    return load_protocol("NCT05940610")


_append_only = importlib.import_module("hepatrial.web.trial.migrations.0002_audit_append_only")


@pytest.fixture
def audit_rows_removable(transactional_db):
    """A live-server test commits its data, and pytest-django empties every table
    afterwards (TRUNCATE / DELETE), which the audit table's triggers refuse. The
    triggers are dropped just before that flush and put back just after it
    (``pytest_runtest_teardown`` below), so later tests find them in place."""
    yield
    with connection.schema_editor() as editor:
        _append_only.backwards(None, editor)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    # After the session's last test the test database itself is gone: nothing to restore.
    if nextitem is not None and "audit_rows_removable" in getattr(item, "fixturenames", ()):
        with item.config.stash[blocking_manager_key].unblock(), connection.schema_editor() as editor:
            _append_only.forwards(None, editor)
