"""Personas: see tests/personas.py."""

from personas import PASSWORD, Personas, personas, randomized, subject  # noqa: F401
