"""Adverse-event incidence by arm: proportions, exact intervals, a risk difference, a test.

For each arm: subjects with at least one event out of subjects at risk (the safety
population), with an exact Clopper-Pearson interval. Between two arms: the risk
difference p1 - p2 with Newcombe's hybrid score interval, and Fisher's exact test.

Methods and sources
-------------------
* Clopper-Pearson (Clopper & Pearson 1934, Biometrika 26:404-413): the exact
  ("central") interval, as R's ``binom.test(x, n)$conf.int``:
  lower = Beta quantile(alpha/2; x, n - x + 1) (0 when x = 0),
  upper = Beta quantile(1 - alpha/2; x + 1, n - x) (1 when x = n).
* Wilson score interval without continuity correction (Wilson 1927, JASA 22:209-212;
  Newcombe 1998a, Stat Med 17:857-872, method 3), as R's
  ``prop.test(x, n, correct = FALSE)$conf.int``:
  (2x + z^2 +- z sqrt(z^2 + 4x(1 - x/n))) / (2(n + z^2)).
* Newcombe's hybrid score interval for p1 - p2 (Newcombe 1998b, "Interval estimation
  for the difference between independent proportions: comparison of eleven methods",
  Stat Med 17:873-890, method 10). With (l_i, u_i) the Wilson limits for p_i and
  d = p1 - p2:
  L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2),  U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
  Newcombe's example (a), 56/70 - 48/80, gives 0.0524 to 0.3339.
* Fisher's exact test, two-sided, as R's ``fisher.test``: the sum of the
  hypergeometric probabilities of all tables with the observed margins that are no
  more probable than the observed one, with R's relative tolerance 1e-7
  (``relErr <- 1 + 10^(-7)`` in R's fisher.test). ``scipy.stats.fisher_exact`` uses
  the same definition; tests/core/test_incidence_vs_r.py checks it against R.

Small samples: with 10 subjects per arm (NCT05940610) every interval here is wide.
``incidence_table`` says so in a ``caveat`` string that travels with the numbers.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Mapping

from scipy import stats

from hepatrial.core.analysis.caveats import small_arm_caveat
from hepatrial.core.errors import FieldInputError


class IncidenceInputError(FieldInputError):
    """A count or level that cannot describe subjects with an event among subjects at risk."""


def _count(value, field: str) -> int:
    # bool is an Integral in Python; a True/False count is almost surely a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
            return int(value)
        raise IncidenceInputError(field, f"must be a whole number of subjects, got {value!r}")
    if value < 0:
        raise IncidenceInputError(field, f"must not be negative, got {value}")
    return int(value)


def _events_and_total(x, n, x_field: str, n_field: str) -> tuple[int, int]:
    x = _count(x, x_field)
    n = _count(n, n_field)
    if n == 0:
        raise IncidenceInputError(n_field, "must be at least 1 (no subjects at risk)")
    if x > n:
        raise IncidenceInputError(x_field, f"{x} subjects with an event exceeds {n_field} = {n}")
    return x, n


def _alpha(level) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise IncidenceInputError("level", f"must be a number strictly between 0 and 1, got {level!r}")
    return 1.0 - float(level)


def clopper_pearson(x, n, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for x/n, equal to R's ``binom.test(x, n, conf.level=level)$conf.int``."""
    x, n = _events_and_total(x, n, "x", "n")
    alpha = _alpha(level)
    # Beta-quantile form of the Clopper-Pearson limits (as in R's binom.test source).
    lower = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
    upper = 1.0 if x == n else float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return lower, upper


def wilson(x, n, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval without continuity correction (R: ``prop.test(x, n, correct=FALSE)``)."""
    x, n = _events_and_total(x, n, "x", "n")
    z = float(stats.norm.ppf(1 - _alpha(level) / 2))
    # Newcombe 1998a eq. for method 3: (2np + z^2 +- z sqrt(z^2 + 4npq)) / (2(n + z^2)).
    p = x / n
    centre = 2 * x + z * z
    half = z * math.sqrt(z * z + 4 * x * (1 - p))
    denominator = 2 * (n + z * z)
    lower = 0.0 if x == 0 else (centre - half) / denominator
    upper = 1.0 if x == n else (centre + half) / denominator
    return lower, upper


@dataclass(frozen=True)
class RiskDifference:
    """p1 - p2 with Newcombe's hybrid score interval (method 10)."""

    difference: float
    lower: float
    upper: float
    level: float
    method: str = "Newcombe hybrid score (1998, method 10), Wilson limits without continuity correction"


def newcombe_difference(x1, n1, x2, n2, level: float = 0.95) -> RiskDifference:
    """Risk difference x1/n1 - x2/n2 with Newcombe's method-10 interval (Stat Med 1998;17:873-890)."""
    x1, n1 = _events_and_total(x1, n1, "x1", "n1")
    x2, n2 = _events_and_total(x2, n2, "x2", "n2")
    _alpha(level)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, level)
    l2, u2 = wilson(x2, n2, level)
    d = p1 - p2
    # Newcombe 1998b, method 10: delta = sqrt((p1-l1)^2 + (u2-p2)^2), eps = sqrt((u1-p1)^2 + (p2-l2)^2).
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return RiskDifference(difference=d, lower=lower, upper=upper, level=float(level))


def fisher_exact(x1, n1, x2, n2) -> float:
    """Two-sided p of Fisher's exact test for x1/n1 vs x2/n2, equal to R's ``fisher.test``.

    The 2x2 table is rows (event, no event) by columns (arm 1, arm 2); the two-sided p
    is the same for the table and its transpose.
    """
    x1, n1 = _events_and_total(x1, n1, "x1", "n1")
    x2, n2 = _events_and_total(x2, n2, "x2", "n2")
    table = [[x1, x2], [n1 - x1, n2 - x2]]
    # scipy's two-sided p sums P(table) <= P(observed) * (1 + 1e-7), R's rule (fisher.test relErr).
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class ArmIncidence:
    arm: str
    subjects: int
    subjects_with_event: int
    proportion: float
    lower: float
    upper: float


@dataclass(frozen=True)
class IncidenceTable:
    """AE incidence for each arm and, for two arms, the comparison."""

    arms: tuple[ArmIncidence, ...]
    level: float
    difference: RiskDifference | None  # first arm minus second arm, in the order given
    fisher_p: float | None
    compared: tuple[str, str] | None
    caveat: str | None
    interval_method: str = "Clopper-Pearson exact (R binom.test)"

    def as_dict(self) -> dict:
        return {
            "level": self.level,
            "interval_method": self.interval_method,
            "arms": [vars(a).copy() for a in self.arms],
            "difference": None if self.difference is None else vars(self.difference).copy(),
            "compared": None if self.compared is None else list(self.compared),
            "fisher_p": self.fisher_p,
            "caveat": self.caveat,
        }


def incidence_table(
    events_by_arm: Mapping[str, int],
    n_by_arm: Mapping[str, int],
    level: float = 0.95,
) -> IncidenceTable:
    """Per arm: n, subjects with the event, proportion and Clopper-Pearson interval.

    With exactly two arms, also the difference (first arm in ``n_by_arm`` order minus the
    second) with Newcombe's interval and Fisher's two-sided p. ``caveat`` is set when any
    arm has fewer than ``SMALL_ARM_SUBJECTS`` subjects.
    """
    _alpha(level)
    if not n_by_arm:
        raise IncidenceInputError("n_by_arm", "no arms given")
    unknown = sorted(set(events_by_arm) - set(n_by_arm))
    if unknown:
        raise IncidenceInputError("events_by_arm", f"arms without a subject count in n_by_arm: {unknown}")
    arms = []
    for arm, n in n_by_arm.items():
        x, n = _events_and_total(events_by_arm.get(arm, 0), n, f"events_by_arm[{arm!r}]", f"n_by_arm[{arm!r}]")
        lower, upper = clopper_pearson(x, n, level)
        arms.append(ArmIncidence(arm=str(arm), subjects=n, subjects_with_event=x, proportion=x / n,
                                 lower=lower, upper=upper))
    difference = fisher_p = compared = None
    if len(arms) == 2:
        a, b = arms
        difference = newcombe_difference(a.subjects_with_event, a.subjects, b.subjects_with_event, b.subjects, level)
        fisher_p = fisher_exact(a.subjects_with_event, a.subjects, b.subjects_with_event, b.subjects)
        compared = (a.arm, b.arm)
    caveat = small_arm_caveat({a.arm: a.subjects for a in arms}, "a non-significant test is not evidence of no difference.")
    return IncidenceTable(arms=tuple(arms), level=float(level), difference=difference, fisher_p=fisher_p,
                          compared=compared, caveat=caveat)
