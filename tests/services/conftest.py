"""Personas: see tests/personas.py."""

from personas import PASSWORD, Personas, personas, subject  # noqa: F401
