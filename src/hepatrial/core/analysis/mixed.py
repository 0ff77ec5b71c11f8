"""Linear mixed model with a random intercept per subject, fitted by REML.

For repeated measurements such as MELD or log bilirubin over visits:

    y_ij = x_ij' beta + b_i + e_ij,   b_i ~ N(0, tau^2),   e_ij ~ N(0, sigma^2),

all independent (Laird & Ware 1982, Biometrics 38:963-974). It is the model of R's
``nlme::lme(y ~ ..., random = ~ 1 | id, method = "REML")`` (Pinheiro & Bates 2000,
Mixed-Effects Models in S and S-PLUS, ch. 2).

How it is computed
------------------
* The variance components (tau, sigma) maximise the restricted (REML) likelihood
  (Patterson & Thompson 1971, Biometrika 58:545-554). The optimiser is statsmodels'
  ``MixedLM`` (BFGS on the profiled REML likelihood), a maintained component; its REML
  log-likelihood includes the same constants as nlme's ``logLik(fit)`` for REML fits,
  which tests/core/test_mixed_vs_r.py checks on R's ``pbcseq`` data.
* Fixed effects and their covariance are the generalised least-squares solution at
  those variance components, computed here in closed form:
  beta = (X' V^-1 X)^-1 X' V^-1 y,  Cov(beta) = (X' V^-1 X)^-1,
  with V_i^-1 = (I - g_i J) / sigma^2, g_i = tau^2 / (sigma^2 + n_i tau^2) for a subject
  with n_i observations (Sherman-Morrison). This is the covariance nlme reports
  (``vcov(fit)``). statsmodels' ``bse_fe`` is *not* used: it comes from the Hessian of
  the likelihood in all parameters and differed from nlme by 0.2% on pbcseq.

Tests and degrees of freedom (convention chosen: nlme's)
--------------------------------------------------------
Each fixed effect gets t = estimate / SE and a two-sided p from a t distribution with
nlme's "containment" (within/between) denominator df (Pinheiro & Bates 2000, section
2.4.2; nlme's ``getFixDF``), so that the p-values equal ``summary(lme(...))``:
* a column of X that is constant within every subject is a between-subject effect:
  df = n_subjects - (number of between-subject columns other than the intercept) - 1;
* every other column, and the intercept, is a within-subject effect:
  df = n_obs - n_subjects - (number of within-subject columns other than the intercept).
nlme classifies *terms* (all columns of a factor together); here each column is
classified on its own, which is the same whenever a term's columns are all constant
within subjects or all not (true for the models used in hepatrial: visit, arm, their
interaction, time and baseline covariates). Kenward-Roger or Satterthwaite df are not
provided. With 10 subjects per arm the between-subject df are small (18 for two arms
of 10) and the t reference matters.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

# Below this many subjects per arm, every estimate carries the small-sample caveat
# (shared with incidence.SMALL_ARM_SUBJECTS; a judgement, not a published threshold).
SMALL_ARM_SUBJECTS = 20


class MixedModelInputError(ValueError):
    """Data that cannot be fitted as a random-intercept model, naming the argument."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class FixedEffect:
    term: str
    estimate: float
    se: float
    df: int
    t: float
    p: float


@dataclass(frozen=True)
class RandomInterceptFit:
    """Result of ``fit_random_intercept``: fixed effects, variance components, fit statistics."""

    fixed_effects: tuple[FixedEffect, ...]
    sd_intercept: float  # tau: SD of the subject random intercepts
    sd_residual: float  # sigma: residual (within-subject) SD
    loglik_reml: float  # restricted log-likelihood, as R's logLik() for an REML lme fit
    n_obs: int
    n_groups: int
    covariance: np.ndarray = field(repr=False)  # Cov(beta) = (X' V^-1 X)^-1
    df_between: int = 0  # n_subjects - between-subject columns - 1 (nlme's level-1 df)
    converged: bool = True
    warnings: tuple[str, ...] = ()
    df_convention: str = "nlme containment (within/between) denominator df; p from t"

    @property
    def names(self) -> list[str]:
        return [f.term for f in self.fixed_effects]

    @property
    def params(self) -> np.ndarray:
        return np.array([f.estimate for f in self.fixed_effects])

    def summary(self) -> list[dict]:
        """One row per fixed effect: term, estimate, se, df, t, p (as ``summary(lme)$tTable``)."""
        return [vars(f).copy() for f in self.fixed_effects]

    def as_dict(self) -> dict:
        return {
            "fixed_effects": self.summary(),
            "sd_intercept": self.sd_intercept,
            "sd_residual": self.sd_residual,
            "loglik_reml": self.loglik_reml,
            "n_obs": self.n_obs,
            "n_groups": self.n_groups,
            "df_convention": self.df_convention,
            "converged": self.converged,
            "warnings": list(self.warnings),
        }


def _as_groups(groups, n: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != n:
        raise MixedModelInputError("groups", f"needs one subject id per observation ({n}), got shape {g.shape}")
    if g.dtype.kind == "f" and np.isnan(g).any():
        raise MixedModelInputError("groups", "contains missing subject ids")
    if any(v is None for v in g.tolist()):
        raise MixedModelInputError("groups", "contains missing subject ids")
    return g


def containment_df(X: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, int]:
    """nlme's within/between denominator df for each column of X, and the between-subject df.

    ``codes``: subject index per row. See the module docstring for the rule.
    """
    n, p = X.shape
    order = np.argsort(codes, kind="stable")
    xs, cs = X[order], codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cs)) + 1]
    first = xs[starts]  # first row of each subject
    first_of_row = first[np.searchsorted(starts, np.arange(n), side="right") - 1]
    constant_within = np.all(np.isclose(xs, first_of_row, rtol=0, atol=1e-12 * (1 + np.abs(first_of_row))), axis=0)
    intercept = np.all(X == 1.0, axis=0)
    between = constant_within & ~intercept
    within = ~constant_within & ~intercept
    df_between = n_groups - int(between.sum()) - (1 if intercept.any() else 0)
    df_within = n - n_groups - int(within.sum())
    return np.where(between, df_between, df_within).astype(int), df_between


def fit_random_intercept(y, X, groups, names: Sequence[str]) -> RandomInterceptFit:
    """Fit y = X beta + b_subject + e by REML; return estimates, SEs, t, df, p and variances.

    ``y``: outcome (n,); ``X``: fixed-effects design (n, p), including an intercept column
    if wanted; ``groups``: subject id per row (n,); ``names``: one name per column of X.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise MixedModelInputError("y", f"must be one-dimensional, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise MixedModelInputError("y", f"{int((~np.isfinite(y)).sum())} missing or infinite values; drop those rows")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise MixedModelInputError("X", f"needs shape ({y.shape[0]}, p), got {X.shape}")
    if not np.isfinite(X).all():
        raise MixedModelInputError("X", "contains missing or infinite values")
    names = list(names)
    if len(names) != X.shape[1]:
        raise MixedModelInputError("names", f"{len(names)} names for {X.shape[1]} columns of X")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise MixedModelInputError("X", "columns are linearly dependent (an empty cell or a duplicated column?)")
    g = _as_groups(groups, y.shape[0])
    _, codes, sizes = np.unique(g, return_inverse=True, return_counts=True)
    n, p = X.shape
    m = sizes.shape[0]
    if m < 2:
        raise MixedModelInputError("groups", "needs at least two subjects")
    if n - p <= 0:
        raise MixedModelInputError("y", f"{n} observations cannot estimate {p} fixed effects and two variances")

    # REML variance components by statsmodels MixedLM (BFGS, tight gradient tolerance,
    # L-BFGS as a fallback if BFGS does not converge).
    model = sm.MixedLM(y, X, groups=codes)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        result = model.fit(reml=True, method=["bfgs", "lbfgs"], gtol=1e-10)
    for item in w:
        message = str(item.message)
        if issubclass(item.category, (ConvergenceWarning, RuntimeWarning, UserWarning)) and message not in caught:
            caught.append(message)  # e.g. a random-intercept SD on the boundary (0)
    tau2 = float(np.asarray(result.cov_re)[0, 0])
    sigma2 = float(result.scale)

    # GLS at the REML variance components, in closed form per subject (module docstring).
    gamma = tau2 / (sigma2 + sizes * tau2)  # g_i
    sum_x = np.zeros((m, p))
    np.add.at(sum_x, codes, X)
    sum_y = np.bincount(codes, weights=y, minlength=m)
    xtvx = (X.T @ X - (sum_x * gamma[:, None]).T @ sum_x) / sigma2
    xtvy = (X.T @ y - (sum_x * gamma[:, None]).T @ sum_y) / sigma2
    covariance = np.linalg.inv(xtvx)
    covariance = (covariance + covariance.T) / 2
    beta = covariance @ xtvy
    se = np.sqrt(np.diag(covariance))
    df, df_between = containment_df(X, codes, m)
    t = beta / se
    pvals = 2 * stats.t.sf(np.abs(t), df)
    effects = tuple(
        FixedEffect(term=names[j], estimate=float(beta[j]), se=float(se[j]), df=int(df[j]), t=float(t[j]),
                    p=float(pvals[j]))
        for j in range(p)
    )
    return RandomInterceptFit(
        fixed_effects=effects,
        sd_intercept=math.sqrt(max(tau2, 0.0)),
        sd_residual=math.sqrt(sigma2),
        loglik_reml=float(result.llf),
        n_obs=n,
        n_groups=m,
        covariance=covariance,
        df_between=int(df_between),
        converged=bool(result.converged),
        warnings=tuple(caught),
    )


@dataclass(frozen=True)
class VisitArmMean:
    arm: str
    visit: object
    mean: float
    se: float
    df: int
    lower: float
    upper: float
    n_obs: int


@dataclass(frozen=True)
class VisitByArmMeans:
    """Model-based mean and CI per arm and visit, for trajectory plots."""

    rows: tuple[VisitArmMean, ...]
    fit: RandomInterceptFit
    level: float
    caveat: str | None
    reference: str = "first visit and first arm in sort order are the reference levels"

    def as_dict(self) -> dict:
        return {
            "rows": [vars(r).copy() for r in self.rows],
            "level": self.level,
            "caveat": self.caveat,
            "model": self.fit.as_dict(),
        }


def visit_by_arm_design(visit, arm) -> tuple[np.ndarray, list[str], list, list]:
    """Design matrix for ``y ~ factor(visit) * factor(arm)`` with R's treatment contrasts.

    Columns (as R names them): (Intercept), visit<v> for each non-reference visit,
    arm<a> for each non-reference arm, then visit<v>:arm<a>. Returns (X, names, visits, arms).
    """
    visit = np.asarray(visit, dtype=object)
    arm = np.asarray(arm, dtype=object)
    visits = sorted(set(visit.tolist()))
    arms = sorted(set(arm.tolist()), key=str)
    cols = [np.ones(visit.shape[0])]
    names = ["(Intercept)"]
    vd = {v: (visit == v).astype(float) for v in visits[1:]}
    ad = {a: (arm == a).astype(float) for a in arms[1:]}
    for v in visits[1:]:
        cols.append(vd[v])
        names.append(f"visit{v}")
    for a in arms[1:]:
        cols.append(ad[a])
        names.append(f"arm{a}")
    for a in arms[1:]:
        for v in visits[1:]:
            cols.append(vd[v] * ad[a])
            names.append(f"visit{v}:arm{a}")
    return np.column_stack(cols), names, visits, arms


def visit_by_arm_means(y, visit, arm, subject, level: float = 0.95) -> VisitByArmMeans:
    """Fit ``y ~ visit * arm + (1 | subject)`` by REML; the model mean per arm and visit.

    Rows with a missing ``y`` (a missed visit) are dropped; the random intercept uses all
    of a subject's remaining visits. Each mean is L beta with SE sqrt(L Cov(beta) L');
    its CI uses a t quantile with the smallest containment df among the coefficients in
    the between-subject containment df (subjects - arm columns - 1) for every cell: a
    cell mean is a population mean whose precision rests on the number of subjects, and
    one df for all cells keeps the two arms' intervals comparable (nlme itself would
    give the intercept, and so the reference arm's means, the larger within-subject df).
    """
    if not 0 < level < 1:
        raise MixedModelInputError("level", f"must be strictly between 0 and 1, got {level!r}")
    y = np.asarray(y, dtype=float)
    visit = np.asarray(visit, dtype=object)
    arm = np.asarray(arm, dtype=object)
    subject = np.asarray(subject, dtype=object)
    for name, a in (("visit", visit), ("arm", arm), ("subject", subject)):
        if a.shape != y.shape:
            raise MixedModelInputError(name, f"needs one value per observation ({y.shape[0]}), got shape {a.shape}")
    keep = np.isfinite(y)
    y, visit, arm, subject = y[keep], visit[keep], arm[keep], subject[keep]
    if y.size == 0:
        raise MixedModelInputError("y", "no non-missing observations")
    per_subject_arms = {}
    for s, a in zip(subject.tolist(), arm.tolist()):
        if per_subject_arms.setdefault(s, a) != a:
            raise MixedModelInputError("arm", f"subject {s!r} appears in two arms ({per_subject_arms[s]!r}, {a!r})")
    X, names, visits, arms = visit_by_arm_design(visit, arm)
    empty = [(a, v) for a in arms for v in visits if not np.any((arm == a) & (visit == v))]
    if empty:
        raise MixedModelInputError("visit", f"no observations for (arm, visit) {empty}; the model mean is not estimable")
    fit = fit_random_intercept(y, X, subject, names)
    rows = []
    for a in arms:
        for v in visits:
            L = np.zeros(len(names))
            L[0] = 1.0
            if v != visits[0]:
                L[names.index(f"visit{v}")] = 1.0
            if a != arms[0]:
                L[names.index(f"arm{a}")] = 1.0
                if v != visits[0]:
                    L[names.index(f"visit{v}:arm{a}")] = 1.0
            mean = float(L @ fit.params)
            se = float(math.sqrt(L @ fit.covariance @ L))
            df = fit.df_between
            q = float(stats.t.ppf(1 - (1 - level) / 2, df))
            rows.append(VisitArmMean(arm=str(a), visit=v, mean=mean, se=se, df=df, lower=mean - q * se,
                                     upper=mean + q * se, n_obs=int(np.sum((arm == a) & (visit == v)))))
    subjects_per_arm = {a: len({s for s, b in per_subject_arms.items() if b == a}) for a in arms}
    small = {a: k for a, k in subjects_per_arm.items() if k < SMALL_ARM_SUBJECTS}
    caveat = None
    if small:
        sizes = ", ".join(f"{a}: {k}" for a, k in small.items())
        caveat = (f"Small arms ({sizes} subjects): estimates are imprecise; confidence intervals are wide, "
                  "and the model's normality and equal-variance assumptions cannot be checked well.")
    return VisitByArmMeans(rows=tuple(rows), fit=fit, level=float(level), caveat=caveat)
