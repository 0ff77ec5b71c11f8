"""Test infrastructure: PostgreSQL and Chromium for the suite (see docs/testing.md)."""
