"""Personas for the CLI commands that act on the database: see tests/personas.py."""

from personas import personas, randomized, subject  # noqa: F401
