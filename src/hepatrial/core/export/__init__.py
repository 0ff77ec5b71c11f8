"""Exports of the trial data: CDISC ADaM analysis datasets (adam.py)."""
