"""Fixtures for pre-screening (tests/prescreen_cases.py holds the data and the checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prescreen_cases import synth_folder, write_flat

from hepatrial.core.protocol import load_protocol


@pytest.fixture(scope="session")
def protocol():
    return load_protocol()


@pytest.fixture(scope="session")
def omop_10k(tmp_path_factory) -> Path:
    return synth_folder(tmp_path_factory, 10_000, seed=11)


@pytest.fixture(scope="session")
def omop_3k(tmp_path_factory) -> Path:
    return synth_folder(tmp_path_factory, 3_000, seed=5)


@pytest.fixture(scope="session")
def omop_1k(tmp_path_factory) -> Path:
    return synth_folder(tmp_path_factory, 1_000, seed=3)


@pytest.fixture(scope="session")
def flat(tmp_path_factory) -> Path:
    return write_flat(tmp_path_factory.mktemp("flat"))
