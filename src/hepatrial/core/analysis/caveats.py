"""The small-sample caveat every estimate of a 10-per-arm trial carries."""

from __future__ import annotations

from collections.abc import Mapping

# An arm smaller than this gets the small-sample caveat. 20 is a judgement, not a
# published threshold: below it a single subject moves a proportion by > 5 points
# and the exact 95% interval for 0 events still reaches above 16%.
SMALL_ARM_SUBJECTS = 20


def small_arm_caveat(subjects_per_arm: Mapping[str, int], consequence: str) -> str | None:
    """'Small arms (A: 10, B: 9 subjects): estimates are imprecise; confidence intervals are wide,
    and <consequence>' when an arm has fewer than SMALL_ARM_SUBJECTS subjects, else None."""
    small = {a: k for a, k in subjects_per_arm.items() if k < SMALL_ARM_SUBJECTS}
    if not small:
        return None
    sizes = ", ".join(f"{a}: {k}" for a, k in small.items())
    return f"Small arms ({sizes} subjects): estimates are imprecise; confidence intervals are wide, and {consequence}"
