"""Personas: see tests/personas.py."""

from personas import PASSWORD, Personas, client, personas, randomized, subject  # noqa: F401
