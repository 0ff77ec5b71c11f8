"""Change from baseline compared between two arms at each visit on its own: ANCOVA.

At each visit, by ordinary least squares over the subjects with a value there,

    change = b0 + b1 [other arm] + b2 baseline + e,   e ~ N(0, sigma_v^2),

so b1 is the difference between the arms at equal baseline, with its own residual
variance and n - 3 degrees of freedom at every visit. It is R's
``lm(chg ~ arm + baseline, data = subset(d, visit == v))`` (tests/core/test_ancova_vs_r.py).

Why per visit, and not one mixed model over the visits: in liver failure the spread of
the change grows with time (the survivors recover at different speeds), so a model with
one residual variance for every visit (core.analysis.mixed.arm_differences_by_visit, a
random intercept) gives intervals too narrow late and too wide early. With 10 subjects
per arm an unstructured covariance (MMRM) has too many parameters; ANCOVA at each visit
is the robust choice (Vickers & Altman, BMJ 2001;323:1123-1124, for the baseline
adjustment), and the mixed model is reported beside it as a sensitivity analysis.
Subjects who died or left before a visit are not in it: each visit describes its survivors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from hepatrial.core.analysis.mixed import MixedModelInputError, small_arm_caveat

#: Bad input names the argument (the same error as the mixed models').
AncovaInputError = MixedModelInputError


@dataclass(frozen=True)
class VisitAncova:
    visit: object
    n_reference: int
    n_other: int
    difference: float  # other arm minus the reference arm, at equal baseline
    se: float
    df: int
    t: float
    p: float
    lower: float
    upper: float
    sd_residual: float
    baseline_mean: float  # the mean baseline of the subjects at this visit: where the adjusted means are
    slope: float  # change per unit of baseline
    mean_reference: float
    se_mean_reference: float
    mean_other: float
    se_mean_other: float


@dataclass(frozen=True)
class AncovaByVisit:
    visits: tuple[VisitAncova, ...]
    reference: str
    other: str
    level: float
    caveat: str | None
    not_estimable: tuple[object, ...] = ()  # visits with fewer than 2 subjects in an arm, 5 in all, or one baseline
    model: str = "at each visit: change ~ arm + baseline (ordinary least squares, n - 3 df)"

    def as_dict(self) -> dict:
        return {"visits": [vars(v).copy() for v in self.visits], "reference": self.reference, "other": self.other,
                "level": self.level, "caveat": self.caveat, "not_estimable": list(self.not_estimable),
                "model": self.model}  # fmt: skip


def ancova_by_visit(change: Sequence[float], visit: Sequence[object], arm: Sequence[str], baseline: Sequence[float],
                    reference: str, level: float = 0.95) -> AncovaByVisit:  # fmt: skip
    """The baseline-adjusted difference between two arms in change from baseline at each visit.

    Rows with a missing change are dropped. A visit with fewer than 2 subjects in an arm (or
    fewer than 5 in all, leaving no residual df) is listed in ``not_estimable``."""
    if not 0 < level < 1:
        raise AncovaInputError("level", f"must be strictly between 0 and 1, got {level!r}")
    y = np.asarray(change, dtype=float)
    n = y.shape[0]
    v = np.asarray(visit, dtype=object)
    a = np.asarray([str(x) for x in arm], dtype=object)  # arm labels (codes such as 0 / 1 read as text)
    b = np.asarray(baseline, dtype=float)
    for name, values in (("visit", v), ("arm", a), ("baseline", b)):
        if values.shape != (n,):
            raise AncovaInputError(name, f"needs one value per observation ({n}), got shape {values.shape}")
    keep = np.isfinite(y)
    if not np.isfinite(b[keep]).all():
        raise AncovaInputError("baseline", "missing for a row with a change; a change needs its baseline")
    y, v, a, b = y[keep], v[keep], a[keep], b[keep]
    arms = sorted(set(a.tolist()), key=str)
    if len(arms) != 2:
        raise AncovaInputError("arm", f"needs exactly two arms, got {arms}")
    if reference not in arms:
        raise AncovaInputError("reference", f"{reference!r} is not one of the arms {arms}")
    other = next(x for x in arms if x != reference)
    rows, skipped = [], []
    for visit_value in sorted(set(v.tolist())):
        at = v == visit_value
        is_other = (a[at] == other).astype(float)
        n_ref, n_oth = int((is_other == 0).sum()), int(is_other.sum())
        n_v = n_ref + n_oth
        if min(n_ref, n_oth) < 2 or n_v < 5:
            skipped.append(visit_value)
            continue
        X = np.column_stack([np.ones(n_v), is_other, b[at]])
        if np.linalg.matrix_rank(X) < 3:  # every baseline equal: no slope
            skipped.append(visit_value)
            continue
        beta, *_ = np.linalg.lstsq(X, y[at], rcond=None)
        df = n_v - 3
        resid = y[at] - X @ beta
        sigma2 = float(resid @ resid) / df
        cov = sigma2 * np.linalg.inv(X.T @ X)
        se = math.sqrt(cov[1, 1])
        t = float(beta[1]) / se if se > 0 else math.inf
        q = float(stats.t.ppf(1 - (1 - level) / 2, df))
        centre = float(b[at].mean())
        means = []
        for indicator in (0.0, 1.0):
            L = np.array([1.0, indicator, centre])
            means.append((float(L @ beta), math.sqrt(float(L @ cov @ L))))
        rows.append(VisitAncova(
            visit=visit_value, n_reference=n_ref, n_other=n_oth, difference=float(beta[1]), se=se, df=df, t=t,
            p=float(2 * stats.t.sf(abs(t), df)), lower=float(beta[1]) - q * se, upper=float(beta[1]) + q * se,
            sd_residual=math.sqrt(sigma2), baseline_mean=centre, slope=float(beta[2]), mean_reference=means[0][0],
            se_mean_reference=means[0][1], mean_other=means[1][0], se_mean_other=means[1][1],
        ))  # fmt: skip
    sizes = {x: max([r.n_reference if x == reference else r.n_other for r in rows], default=0) for x in arms}
    return AncovaByVisit(tuple(rows), reference, other, float(level), small_arm_caveat(sizes), tuple(skipped))
