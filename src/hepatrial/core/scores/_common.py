"""Shared helpers for the liver scores: the input error type, input checks and rounding.

Pure standard library; no clinical constants live here.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from numbers import Real

from hepatrial.core.errors import FieldInputError

__all__ = [
    "ScoreInputError",
    "require_number",
    "require_positive",
    "require_non_negative",
    "require_bool",
    "require_he_grade",
    "round_half_up",
    "clamp",
    "banded_points",
]


class ScoreInputError(FieldInputError):
    """An input to a score is missing, of the wrong type or physically implausible.

    ``field`` is the keyword argument's name (e.g. ``"bilirubin_mg_dl"``) and
    ``reason`` a short sentence a user can act on.
    """


def require_number(value: object, field: str) -> float:
    """Return ``value`` as a finite float, or raise ScoreInputError naming ``field``."""
    # bool is a subclass of int; True as a bilirubin is always a caller bug.
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ScoreInputError(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ScoreInputError(field, f"must be a finite number, got {number!r}")
    return number


def require_positive(value: object, field: str) -> float:
    """A finite number > 0 (needed wherever a logarithm is taken, or zero is impossible)."""
    number = require_number(value, field)
    if number <= 0:
        raise ScoreInputError(field, f"must be greater than 0, got {number!r}")
    return number


def require_non_negative(value: object, field: str) -> float:
    """A finite number >= 0."""
    number = require_number(value, field)
    if number < 0:
        raise ScoreInputError(field, f"must not be negative, got {number!r}")
    return number


def require_bool(value: object, field: str) -> bool:
    """A real ``bool``; 0/1 or strings are refused so that a yes/no is never guessed."""
    if not isinstance(value, bool):
        raise ScoreInputError(field, f"must be True or False, got {value!r}")
    return value


def require_he_grade(value: object, field: str = "encephalopathy_grade") -> int:
    """A West Haven hepatic encephalopathy grade: an int from 0 to 4."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoreInputError(
            field, f"must be a West Haven grade, an integer 0-4, got {value!r}"
        )
    if not 0 <= value <= 4:
        raise ScoreInputError(field, f"must be a West Haven grade 0-4, got {value!r}")
    return value


def round_half_up(value: float, ndigits: int = 0) -> float:
    """Round half away from zero on the decimal representation of ``value``.

    Python's ``round`` rounds halves to even (``round(2.5) == 2``) and works on
    the binary value (``round(2.675, 2) == 2.67``). Clinical calculators and the
    SAS ``round`` used in published MELD code round halves up, so the scores use
    this instead. ``repr`` gives the shortest decimal that round-trips, which is
    what a person reading the number sees.
    """
    quantum = Decimal(1).scaleb(-ndigits)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def clamp(value: float, low: float, high: float) -> float:
    """``value`` bounded to the closed interval [low, high]."""
    return max(low, min(high, value))


def banded_points(value: float, low: float, high: float) -> int:
    """1 below ``low``, 2 within [low, high], 3 above ``high``: the three-band
    point tables of Child-Pugh and APASL AARC (each states its own bands)."""
    if value < low:
        return 1
    if value <= high:
        return 2
    return 3
