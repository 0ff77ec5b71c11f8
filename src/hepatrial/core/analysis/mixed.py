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

from hepatrial.core.analysis import caveats
from hepatrial.core.errors import FieldInputError


class MixedModelInputError(FieldInputError):
    """Data that cannot be fitted as a random-intercept model, naming the argument."""


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


def small_arm_caveat(subjects_per_arm: dict) -> str | None:
    """The small-sample caveat of a model (core.analysis.caveats), else None."""
    return caveats.small_arm_caveat(subjects_per_arm, "the model's normality and equal-variance assumptions cannot be checked well.")


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
    caveat = small_arm_caveat(subjects_per_arm)
    return VisitByArmMeans(rows=tuple(rows), fit=fit, level=float(level), caveat=caveat)


@dataclass(frozen=True)
class ArmDifference:
    """Baseline-adjusted difference in change from baseline (other arm minus reference arm) at one visit."""

    visit: object
    difference: float
    se: float
    df: int
    t: float
    p: float
    lower: float
    upper: float
    n_reference: int  # subjects of the reference arm with a change at this visit
    n_other: int  # subjects of the other arm with a change at this visit


@dataclass(frozen=True)
class AdjustedMean:
    """Model mean change from baseline of one arm at one visit, at the mean baseline."""

    arm: str
    visit: object
    mean: float
    se: float
    df: int
    lower: float
    upper: float
    n_subjects: int


@dataclass(frozen=True)
class ArmDifferences:
    """Result of ``arm_differences_by_visit``: one difference per visit, adjusted means, the fit."""

    differences: tuple[ArmDifference, ...]
    means: tuple[AdjustedMean, ...]  # per arm (reference first) and visit
    reference: str
    other: str
    baseline_mean: float  # the baseline at which the adjusted means are given (mean over subjects)
    fit: RandomInterceptFit  # first visit and the reference arm as reference levels, R's column order
    level: float
    caveat: str | None
    model: str = ("change ~ visit * arm + visit:baseline + (1 | subject), REML "
                  "(random intercept: compound symmetry within subject)")

    def as_dict(self) -> dict:
        return {
            "differences": [vars(r).copy() for r in self.differences],
            "means": [vars(r).copy() for r in self.means],
            "reference": self.reference,
            "other": self.other,
            "baseline_mean": self.baseline_mean,
            "level": self.level,
            "caveat": self.caveat,
            "model_formula": self.model,
            "model": self.fit.as_dict(),
        }


def _numeric(name: str, values, n: int | None = None) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise MixedModelInputError(name, "must be numeric") from None
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        expected = "a one-dimensional array" if n is None else f"one value per observation ({n})"
        raise MixedModelInputError(name, f"needs {expected}, got shape {a.shape}")
    return a


def _labels(name: str, values, n: int) -> np.ndarray:
    a = np.asarray(values, dtype=object)
    if a.ndim != 1 or a.shape[0] != n:
        raise MixedModelInputError(name, f"needs one value per observation ({n}), got shape {a.shape}")
    missing = sum(1 for v in a.tolist() if v is None or (isinstance(v, float) and math.isnan(v)))
    if missing:
        raise MixedModelInputError(name, f"missing in {missing} of {n} rows")
    out = np.empty(n, dtype=object)
    out[:] = [v.item() if isinstance(v, np.generic) else v for v in a.tolist()]
    return out


def _change_design(visit, is_other, baseline, visits, reference_visit, other) -> tuple[np.ndarray, list[str], dict]:
    """Design of ``change ~ visit * arm + visit:baseline`` with ``reference_visit`` as visit's reference level.

    Columns in R's order and with R's names (factors ``visit`` and ``arm``, covariate ``baseline``):
    (Intercept), visit<v> (v other than the reference), arm<other>, visit<v>:arm<other> (same v),
    visit<v>:baseline (every v, the reference first). Also returns the column index of each.
    """
    rest = [v for v in visits if v != reference_visit]
    ind = {v: (visit == v).astype(float) for v in visits}
    cols, names = [np.ones(visit.shape[0])], ["(Intercept)"]
    at = {"visit": {}, "visit_arm": {}, "visit_baseline": {}}
    for v in rest:
        at["visit"][v] = len(cols)
        cols.append(ind[v])
        names.append(f"visit{v}")
    at["arm"] = len(cols)
    cols.append(is_other)
    names.append(f"arm{other}")
    for v in rest:
        at["visit_arm"][v] = len(cols)
        cols.append(ind[v] * is_other)
        names.append(f"visit{v}:arm{other}")
    for v in [reference_visit, *rest]:
        at["visit_baseline"][v] = len(cols)
        cols.append(ind[v] * baseline)
        names.append(f"visit{v}:baseline")
    return np.column_stack(cols), names, at


def arm_differences_by_visit(change, visit, arm, subject, baseline, reference: str,
                             level: float = 0.95) -> ArmDifferences:
    """Baseline-adjusted difference between two arms in change from baseline at each visit.

    Model (fitted once, by REML), for subject i at visit v:

        change_iv = a_v + d_v * [arm_i = other] + c_v * baseline_i + b_i + e_iv,
        b_i ~ N(0, tau^2),  e_iv ~ N(0, sigma^2),

    i.e. each visit has its own intercept a_v, arm effect d_v and baseline slope c_v (an
    ANCOVA per visit, the visits tied together by the subject's random intercept b_i). In R:
    ``lme(change ~ visit * arm + visit:baseline, random = ~ 1 | subject, method = "REML")``
    with ``visit`` and ``arm`` factors.

    The difference reported at visit V is d_V: the other arm minus ``reference`` at equal
    baseline, which is the arm coefficient nlme reports when V is made the reference level of
    visit. It is computed from the single fit (first visit and ``reference`` as reference
    levels, columns in R's order, kept in ``.fit``) as the contrast arm + visit<V>:arm, with SE
    sqrt(L Cov(beta) L'). Releveling a factor is a linear reparameterisation of the fixed
    effects (determinant +/-1): it changes neither the REML variance components, nor the REML
    log-likelihood, nor the GLS fit, so the contrast equals the releveled fit's coefficient;
    tests/core/test_change_by_visit_vs_r.py checks it against one releveled nlme fit per visit.

    Degrees of freedom (nlme's convention, as ``fit_random_intercept``): the df of the arm
    column in the design releveled to V (its containment df, computed from that design
    without refitting). The arm is constant within a subject, so this is the between-subject
    df, n_subjects - 2 (one arm column and the intercept). The CI is d_V -/+ t quantile * SE
    at that df, and p is two-sided from the same t distribution. Kenward-Roger or
    Satterthwaite df are not provided.

    Adjusted means: a_v + c_v * (mean baseline), plus d_v for the other arm, at the mean
    baseline over the subjects analysed (each subject counted once), with the between-subject
    df for their CIs, as ``visit_by_arm_means`` does.

    Why a random intercept and not an unstructured covariance (MMRM): with 10 subjects per arm
    and 4 post-baseline visits, an unstructured within-subject covariance has 10 parameters to
    estimate from 20 subjects; such fits are unstable or fail to converge, and their usual
    small-sample correction (Kenward-Roger) is not available here. Compound symmetry (one
    between-subject and one within-subject variance: equal variance at every visit, equal
    correlation between any two visits) is the choice made for trials of this size. It is an
    assumption that 20 subjects can neither confirm nor refute; with large arms an MMRM would be
    the usual choice.

    Missed visits and deaths: rows whose change is not finite are dropped; the subject's other
    visits still count, and the random intercept carries what earlier visits say about a subject
    who left, which corrects for drop-out only if it is missing at random given those values.
    After a death there is no value to be missing: the difference at a later visit describes
    the subjects still alive and attending (the survivors), not the randomised population.
    Read it beside the survival analysis; ``n_reference`` / ``n_other`` show who remains.

    Arguments, one value per row (subject x visit): ``change`` (not finite = not observed),
    ``visit`` (sortable labels), ``arm`` (compared as strings), ``subject``, ``baseline`` (the
    subject's baseline value, the same on all its rows, present on every row: a subject without
    a baseline is an error, not silently dropped); ``reference``: the reference arm (a string);
    ``level``: confidence level of the intervals.

    Raises ``MixedModelInputError`` naming the argument: arrays of different lengths, missing
    labels, a missing baseline, not exactly two arms with data (``arm``), ``reference`` not one
    of them, a subject in two arms (``arm``), a baseline that differs between a subject's rows
    (``baseline``), two rows of a subject at one visit (``subject``), a visit where an arm has
    no subject or where the baseline slope is not estimable (``visit``).
    """
    if not 0 < level < 1:
        raise MixedModelInputError("level", f"must be strictly between 0 and 1, got {level!r}")
    change = _numeric("change", change)
    n = change.shape[0]
    visit = _labels("visit", visit, n)
    arm = np.array([str(a) for a in _labels("arm", arm, n).tolist()], dtype=object)
    subject = _labels("subject", subject, n)
    baseline = _numeric("baseline", baseline, n)
    reference = str(reference)
    no_baseline = ~np.isfinite(baseline)
    if no_baseline.any():
        first = subject[np.flatnonzero(no_baseline)[0]]
        raise MixedModelInputError("baseline", f"missing in {int(no_baseline.sum())} of {n} rows (first: subject "
                                               f"{first!r}); every subject analysed needs one")
    keep = np.isfinite(change)
    change, visit, arm, subject, baseline = (a[keep] for a in (change, visit, arm, subject, baseline))
    if change.size == 0:
        raise MixedModelInputError("change", "no non-missing values")
    arms = sorted(set(arm.tolist()))
    if len(arms) != 2:
        raise MixedModelInputError("arm", f"needs exactly two arms with data, found {len(arms)}: {arms}")
    if reference not in arms:
        raise MixedModelInputError("reference", f"{reference!r} is not one of the arms {arms}")
    other = arms[1] if arms[0] == reference else arms[0]

    subject_arm: dict = {}
    subject_baseline: dict = {}
    seen: set = set()
    for s, a, b, v in zip(subject.tolist(), arm.tolist(), baseline.tolist(), visit.tolist()):
        if subject_arm.setdefault(s, a) != a:
            raise MixedModelInputError("arm", f"subject {s!r} appears in two arms ({subject_arm[s]!r}, {a!r})")
        b0 = subject_baseline.setdefault(s, b)
        if abs(b - b0) > 1e-9 * (1 + abs(b0)):
            raise MixedModelInputError("baseline", f"subject {s!r} has two baseline values ({b0!r}, {b!r}); "
                                                   "it must be the same on all of a subject's rows")
        if (s, v) in seen:
            raise MixedModelInputError("subject", f"subject {s!r} has two rows at visit {v!r}")
        seen.add((s, v))

    visits = sorted(set(visit.tolist()))
    is_other = (arm == other).astype(float)
    counts = {}
    for v in visits:
        at = visit == v
        counts[v] = (int(np.sum(at & (arm == reference))), int(np.sum(at & (arm == other))))
        empty = [a for a, k in zip((reference, other), counts[v]) if k == 0]
        if empty:
            raise MixedModelInputError("visit", f"no subject of arm {empty[0]!r} has a change at visit {v!r}; "
                                                "the difference there is not estimable")
        block = np.column_stack([np.ones(int(at.sum())), is_other[at], baseline[at]])
        if np.linalg.matrix_rank(block) < 3:
            raise MixedModelInputError("visit", f"at visit {v!r} the arm difference and the baseline slope cannot "
                                                "both be estimated (too few subjects, or equal baselines)")

    X, names, at = _change_design(visit, is_other, baseline, visits, visits[0], other)
    fit = fit_random_intercept(change, X, subject, names)
    _, codes = np.unique(subject, return_inverse=True)
    baseline_mean = float(np.mean(list(subject_baseline.values())))
    beta, cov = fit.params, fit.covariance
    confidence = 1 - (1 - level) / 2

    def estimate(L: np.ndarray) -> tuple[float, float]:
        return float(L @ beta), float(math.sqrt(L @ cov @ L))

    differences, means = [], {reference: [], other: []}
    q_means = float(stats.t.ppf(confidence, fit.df_between))
    for v in visits:
        L_arm = np.zeros(len(names))
        L_arm[at["arm"]] = 1.0
        L_ref = np.zeros(len(names))
        L_ref[0] = 1.0
        L_ref[at["visit_baseline"][v]] = baseline_mean
        if v != visits[0]:
            L_arm[at["visit_arm"][v]] = 1.0
            L_ref[at["visit"][v]] = 1.0
        diff, se = estimate(L_arm)
        X_v, _, at_v = _change_design(visit, is_other, baseline, visits, v, other)
        df = int(containment_df(X_v, codes, fit.n_groups)[0][at_v["arm"]])
        t = diff / se
        q = float(stats.t.ppf(confidence, df))
        differences.append(ArmDifference(
            visit=v, difference=diff, se=se, df=df, t=t, p=float(2 * stats.t.sf(abs(t), df)),
            lower=diff - q * se, upper=diff + q * se, n_reference=counts[v][0], n_other=counts[v][1]))
        for a, L, k in ((reference, L_ref, counts[v][0]), (other, L_ref + L_arm, counts[v][1])):
            mean, se_mean = estimate(L)
            means[a].append(AdjustedMean(arm=a, visit=v, mean=mean, se=se_mean, df=fit.df_between,
                                         lower=mean - q_means * se_mean, upper=mean + q_means * se_mean,
                                         n_subjects=k))
    subjects_per_arm = {a: sum(1 for b in subject_arm.values() if b == a) for a in (reference, other)}
    return ArmDifferences(differences=tuple(differences), means=tuple(means[reference] + means[other]),
                          reference=reference, other=other, baseline_mean=baseline_mean, fit=fit,
                          level=float(level), caveat=small_arm_caveat(subjects_per_arm))
