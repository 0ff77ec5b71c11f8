"""Candidate builders for tests: start from an example file, change one thing."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from hepatrial.core.candidate import parse_candidate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def example(name: str) -> dict:
    """An example candidate file as a fresh dict (edit it freely)."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def with_lab(data: dict, test: str, value, unit=None, at: str | None = None, replace: bool = True) -> dict:
    """``data`` with the result of ``test`` set (replacing every earlier result by default)."""
    data = copy.deepcopy(data)
    if replace:
        data["labs"] = [lab for lab in data["labs"] if lab["test"] != test]
    lab = {"test": test, "value": value, "at": at or data["assessed_at"]}
    if unit is not None:
        lab["unit"] = unit
    data["labs"].append(lab)
    return data


def without_lab(data: dict, test: str) -> dict:
    data = copy.deepcopy(data)
    data["labs"] = [lab for lab in data["labs"] if lab["test"] != test]
    return data


def candidate(data: dict):
    return parse_candidate(data)
