"""Personas: see tests/personas.py."""

from personas import PASSWORD, Personas, personas  # noqa: F401
