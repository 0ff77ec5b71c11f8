"""Shared fixtures: the packaged protocol."""

from __future__ import annotations

import pytest

from hepatrial.core.protocol import load_protocol


@pytest.fixture(scope="session")
def protocol():
    return load_protocol("NCT05940610")
