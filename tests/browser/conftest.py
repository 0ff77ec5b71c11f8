"""Browser tests: the personas and the Chromium fixtures (tests/infra).
The audit_rows_removable fixture is in tests/conftest.py."""

from __future__ import annotations

from infra.conftest import browser_executable, chromium, chromium_page, sync_pw  # noqa: F401  (fixtures)
from personas import PASSWORD, Personas, personas, subject  # noqa: F401
