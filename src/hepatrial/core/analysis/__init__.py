"""Statistical analysis: pure functions and fitters over plain data (no database).

``survival`` holds Kaplan-Meier, the log-rank test and Cox proportional hazards,
each checked against R's ``survival`` package (tests/core/test_survival_vs_r.py).
Import from the submodules, e.g. ``from hepatrial.core.analysis.survival import KaplanMeier``.
"""
