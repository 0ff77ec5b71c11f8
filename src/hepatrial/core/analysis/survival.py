"""Time-to-event analysis: Kaplan-Meier, the log-rank test and Cox proportional hazards.

Fitters in the lifelines shape: ``.fit(...)`` returns ``self`` and the results sit in
attributes and a ``summary`` table (a pandas DataFrame). Every number is defined to
equal R's ``survival`` package (Therneau, version 3.x); tests/core/test_survival_vs_r.py
checks them against R run on the Mayo Clinic PBC trial, to a relative 1e-6.

Methods and sources
-------------------
* Kaplan-Meier product-limit estimate (Kaplan & Meier 1958, JASA 53:457-481):
  S(t) = prod over event times t_j <= t of (1 - d_j / n_j), n_j = number with
  duration >= t_j (an observation censored at t_j is at risk at t_j).
* Greenwood's variance (Greenwood 1926; Therneau & Grambsch 2000, "Modeling Survival
  Data", section 2.1): var(-log S(t)) = sum d_j / (n_j (n_j - d_j)). R's
  ``summary.survfit`` reports the standard error on the survival scale,
  S(t) * sqrt(that sum), which is what ``std_err`` holds.
* 95% CI with R's default ``conf.type = "log"`` (``survfit.formula``; the code is
  ``survival:::survfit_confint``): exp(log S -+ z * se(-log S)), z = qnorm(0.975), the
  upper limit capped at 1; undefined (NaN; NA in R) where S = 0.
* The median and its CI as ``quantile.survfit`` defines them (R survival 3.x, helper
  ``findq``): the first time at which the curve (S for the median, the lower CI curve
  for the lower limit, the upper CI curve for the upper limit) is <= 0.5, where
  "equal" means within sqrt(machine epsilon). When the curve sits exactly on 0.5 over a
  flat stretch the value is the midpoint of the time it reached 0.5 and the time it
  next drops; when it ends on 0.5 the midpoint with the last observed time. Never
  reaching 0.5 gives NaN (NA in R): "not reached".
* Log-rank test (Mantel 1966; Peto & Peto 1972), as ``survdiff(rho = 0)``: at each
  event time, the expected deaths n_g d / n per group and the hypergeometric
  covariance d (n - d) / (n - 1) * (n_g / n) (delta_gh - n_h / n); the statistic is
  (O - E)' V^- (O - E) over all groups but the first, df = groups with E > 0, minus 1.
* Cox proportional hazards (Cox 1972) with Efron's (Efron 1977, JASA 72:557-565) or
  Breslow's (Breslow 1974, Biometrics 30:89-99) handling of tied event times. For a
  time with d deaths, D = the deaths' sum of exp(x'b), R = the risk set's sum, the
  log partial likelihood gains sum_deaths x'b - sum_{k<d} log(R - f_k D) with
  f_k = k/d (Efron) or 0 (Breslow); the score and information follow by
  differentiation (Therneau & Grambsch 2000, section 3.3).
  Fitting follows R's ``coxph`` (``coxph.control``: eps = 1e-9, iter.max = 20;
  the C routine ``coxfit6``): Newton-Raphson from b = 0; stop when
  |1 - loglik_old / loglik_new| <= eps, unless the previous step was halved; a step
  that lowers the log-likelihood is halved. The variance is the inverse of the
  information at the final b. Score test: U' I^-1 U at b = 0. Wald: b' V^-1 b.
  Likelihood ratio: 2 (loglik - loglik_null). Per coefficient, z = b / se and
  p = P(chi2_1 > z^2), as ``summary.coxph``; HR CI exp(b -+ z se).

Small samples: with 10 subjects per arm (NCT05940610) a median is often "not
reached", its CI open-ended, and a hazard ratio's CI spans an order of magnitude.
The estimates here carry no caveat of their own; the report prints it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hepatrial.core.errors import FieldInputError

__all__ = [
    "ADTTE_ARM_COLUMNS",
    "ADTTE_COLUMNS",
    "CoxPH",
    "KaplanMeier",
    "LogRankResult",
    "MedianSurvival",
    "SurvivalInputError",
    "TestResult",
    "TimeToEvent",
    "adtte_arrays",
    "compare_arms",
    "logrank_test",
    "render_arm_comparison",
]

# R's quantile.survfit tolerance: sqrt(.Machine$double.eps).
_TOLERANCE = math.sqrt(np.finfo(float).eps)


class SurvivalInputError(FieldInputError):
    """An input to a survival fitter is missing, of the wrong shape or impossible.

    ``field`` names the argument (``"durations"``, ``"events"``, ``"groups"``,
    ``"covariates"``, ``"times"``, ``"ties"`` ...) and ``reason`` says what is wrong.
    """


# --- input checks -----------------------------------------------------------------------------
def _as_1d(values: Any, field: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise SurvivalInputError(field, f"must be numbers ({err})") from None
    if arr.ndim != 1:
        raise SurvivalInputError(field, f"must be one-dimensional, got shape {arr.shape}")
    return arr


def _durations_events(durations: Any, events: Any) -> tuple[np.ndarray, np.ndarray]:
    t = _as_1d(durations, "durations")
    e = _as_1d(events, "events")
    if len(t) != len(e):
        raise SurvivalInputError("events", f"has {len(e)} values but durations has {len(t)}")
    if len(t) == 0:
        raise SurvivalInputError("durations", "is empty")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise SurvivalInputError("durations", f"value {t[bad[0]]!r} at position {bad[0]} is not a finite number")
    bad = np.flatnonzero(t < 0)
    if bad.size:
        raise SurvivalInputError("durations", f"value {t[bad[0]]:g} at position {bad[0]} is negative")
    bad = np.flatnonzero(~np.isin(e, (0.0, 1.0)))
    if bad.size:
        raise SurvivalInputError(
            "events", f"value {e[bad[0]]!r} at position {bad[0]} is not 0 (censored) or 1 (event)"
        )
    return t, e.astype(int)


def _groups(groups: Any, n: int) -> np.ndarray:
    g = np.asarray(groups, dtype=object)
    if g.ndim != 1:
        raise SurvivalInputError("groups", f"must be one-dimensional, got shape {g.shape}")
    if len(g) != n:
        raise SurvivalInputError("groups", f"has {len(g)} values but durations has {n}")
    missing = [i for i, v in enumerate(g) if v is None or (isinstance(v, float) and math.isnan(v))]
    if missing:
        raise SurvivalInputError("groups", f"value at position {missing[0]} is missing")
    return g


# --- Kaplan-Meier -----------------------------------------------------------------------------
@dataclass(frozen=True)
class MedianSurvival:
    """The median survival time and its CI; NaN means "not reached" (R prints NA)."""

    median: float
    lower: float
    upper: float


def _crossing_time(times: np.ndarray, curve: np.ndarray, p: float = 0.5) -> float:
    """The time the curve falls to 1 - p, by the rules of R's ``quantile.survfit`` (``findq``).

    ``times`` are all the fit's distinct times (event and censoring), ``curve`` the
    survival (or a CI limit) there; NaN where undefined. See the module docstring.
    """
    x = np.concatenate([[0.0], times])
    y = np.concatenate([[0.0], 1.0 - curve])
    finite = y[~np.isnan(y)]
    if finite.size == 0 or finite.max() < p:
        return math.nan
    x_last = x[-1]
    # Keep the first time of each distinct value of y (a flat stretch keeps its start);
    # like R's duplicated(), every NaN counts as one value.
    keep, seen, seen_nan = [], set(), False
    for i, v in enumerate(y):
        if math.isnan(v):
            if not seen_nan:
                keep.append(i)
            seen_nan = True
        elif v not in seen:
            seen.add(v)
            keep.append(i)
    x, y = x[keep], y[keep]
    ok = ~np.isnan(y)  # R's approx() drops NA points
    xs, ys = x[ok], y[ok]

    def first_at_least(shift: float) -> float:
        # approx(y + shift, x, p, method = "constant", f = 1): the first point with
        # y + shift >= p; NA when p lies outside the range of y + shift.
        if p < ys[0] + shift or p > ys[-1] + shift:
            return math.nan
        return float(xs[np.argmax(ys + shift >= p)])

    t1 = first_at_least(_TOLERANCE)
    t2 = first_at_least(-_TOLERANCE)
    value = (t1 + t2) / 2
    if not math.isnan(y[-1]) and abs(p - y[-1]) < _TOLERANCE:
        value = (t1 + x_last) / 2  # the curve ends on 1 - p
    return value


class KaplanMeier:
    """Kaplan-Meier estimate with Greenwood standard errors and log-scale CIs, as R's survfit.

    >>> km = KaplanMeier().fit([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    >>> list(km.summary["survival"].round(4))
    [0.8, 0.6, 0.3, 0.3]
    """

    def __init__(self, conf_level: float = 0.95) -> None:
        if not 0 < conf_level < 1:
            raise SurvivalInputError("conf_level", f"must be between 0 and 1, got {conf_level!r}")
        self.conf_level = conf_level
        self._z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))

    def fit(self, durations: Any, events: Any, label: str | None = None) -> "KaplanMeier":
        t, e = _durations_events(durations, events)
        self.label = label
        self.durations, self.events = t, e
        self.n = len(t)
        self.n_events = int(e.sum())
        times, inverse = np.unique(t, return_inverse=True)
        n_event = np.bincount(inverse, weights=e, minlength=len(times))
        n_total = np.bincount(inverse, minlength=len(times))
        n_risk = n_total[::-1].cumsum()[::-1]  # number with duration >= time
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = np.cumprod(1.0 - n_event / n_risk)
            # Greenwood: var(-log S) = sum d / (n (n - d)); infinite once everyone left has died.
            terms = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
            se_log = np.sqrt(np.cumsum(terms))
            std_err = surv * se_log  # R's summary.survfit: on the survival scale (NaN at S = 0)
            lower, upper = self._limits(surv, se_log)
        self._se_log = se_log
        self.summary = pd.DataFrame(
            {
                "time": times,
                "n_risk": n_risk.astype(int),
                "n_event": n_event.astype(int),
                "n_censor": (n_total - n_event).astype(int),
                "survival": surv,
                "std_err": std_err,
                "lower": lower,
                "upper": upper,
            }
        )
        self.median = MedianSurvival(
            _crossing_time(times, surv), _crossing_time(times, lower), _crossing_time(times, upper)
        )
        return self

    def _limits(self, surv: np.ndarray, se_log: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # conf.type = "log" (survival:::survfit_confint): undefined where S = 0, upper capped at 1.
        with np.errstate(divide="ignore", invalid="ignore"):
            log_s = np.where(surv > 0, np.log(np.where(surv > 0, surv, 1.0)), np.nan)
            lower = np.exp(log_s - self._z * se_log)
            upper = np.minimum(np.exp(log_s + self._z * se_log), 1.0)
        return lower, upper

    def _check_fitted(self) -> None:
        if not hasattr(self, "summary"):
            raise RuntimeError("call fit() first")

    def n_at_risk(self, times: Iterable[float]) -> np.ndarray:
        """Subjects still under observation at each time (duration >= time), as R's
        ``summary(fit, times = ...)$n.risk`` and the numbers under a KM plot."""
        self._check_fitted()
        at = _as_1d(list(times), "times")
        return np.array([int((self.durations >= x).sum()) for x in at], dtype=int)

    def survival_at(self, times: Iterable[float]) -> pd.DataFrame:
        """S(t), its SE and CI at each time, as R's ``summary(fit, times = ...)``.

        The step function is read at the last fit time <= t (before the first time:
        S = 1, SE 0). R drops a time after the last observation (``extend = FALSE``);
        here its row is kept with NaN estimates and ``n_risk`` 0.
        """
        self._check_fitted()
        at = _as_1d(list(times), "times")
        if np.isnan(at).any():
            raise SurvivalInputError("times", "contains a missing value")
        table = self.summary
        grid = table["time"].to_numpy()
        rows = []
        for x, n_risk in zip(at, self.n_at_risk(at)):
            i = int(np.searchsorted(grid, x, side="right")) - 1
            if x > grid[-1]:
                rows.append((x, 0, math.nan, math.nan, math.nan, math.nan))
            elif i < 0:
                rows.append((x, int(n_risk), 1.0, 0.0, 1.0, 1.0))
            else:
                r = table.iloc[i]
                rows.append((x, int(n_risk), r["survival"], r["std_err"], r["lower"], r["upper"]))
        return pd.DataFrame(rows, columns=["time", "n_risk", "survival", "std_err", "lower", "upper"])


# --- log-rank ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogRankResult:
    """survdiff(rho = 0): the statistic, its df and p, and per group n, observed, expected."""

    chisq: float
    df: int
    p: float
    groups: tuple[Any, ...]
    n: tuple[int, ...]
    observed: tuple[float, ...]
    expected: tuple[float, ...]

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"group": self.groups, "n": self.n, "observed": self.observed, "expected": self.expected}
        )


def logrank_test(durations: Any, events: Any, groups: Any) -> LogRankResult:
    """Log-rank test of equal survival across groups (R's ``survdiff``, rho = 0).

    Groups are taken in sorted order, as R orders a factor's levels.
    """
    t, e = _durations_events(durations, events)
    g = _groups(groups, len(t))
    levels = sorted(set(g.tolist()))
    if len(levels) < 2:
        raise SurvivalInputError("groups", f"needs at least 2 groups, got {len(levels)}")
    k = len(levels)
    code = np.array([levels.index(v) for v in g])
    observed = np.bincount(code, weights=e, minlength=k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    for time in np.unique(t[e == 1]):
        at_risk = t >= time
        n = at_risk.sum()
        d = e[(t == time)].sum()
        n_g = np.bincount(code[at_risk], minlength=k).astype(float)
        expected += n_g * d / n
        if n > 1:
            share = n_g / n
            variance += d * (n - d) / (n - 1) * (np.diag(share) - np.outer(share, share))
    diff = (observed - expected)[1:]
    v = variance[1:, 1:]
    # R: sum(solve(var[-1, -1], (O - E)[-1]) * (O - E)[-1]); a singular V (a group with
    # nobody at risk at any event time) falls back to the Moore-Penrose inverse.
    try:
        chisq = float(diff @ np.linalg.solve(v, diff))
    except np.linalg.LinAlgError:
        chisq = float(diff @ np.linalg.pinv(v) @ diff)
    df = int((expected > 0).sum()) - 1
    p = float(stats.chi2.sf(chisq, df)) if df > 0 else math.nan
    return LogRankResult(
        chisq=chisq,
        df=df,
        p=p,
        groups=tuple(levels),
        n=tuple(int(x) for x in np.bincount(code, minlength=k)),
        observed=tuple(float(x) for x in observed),
        expected=tuple(float(x) for x in expected),
    )


# --- Cox proportional hazards -----------------------------------------------------------------
@dataclass(frozen=True)
class TestResult:
    """A chi-square test: statistic, degrees of freedom, p-value."""

    statistic: float
    df: int
    p: float


def _covariates(covariates: Any, n: int, names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if isinstance(covariates, pd.DataFrame):
        default = [str(c) for c in covariates.columns]
    elif isinstance(covariates, pd.Series):
        default = [str(covariates.name or "x1")]
    else:
        default = None
    try:
        x = np.asarray(covariates, dtype=float)
    except (TypeError, ValueError) as err:
        raise SurvivalInputError("covariates", f"must be numbers ({err})") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise SurvivalInputError("covariates", f"must be a vector or a matrix, got shape {x.shape}")
    if x.shape[0] != n:
        raise SurvivalInputError("covariates", f"has {x.shape[0]} rows but durations has {n}")
    if x.shape[1] == 0:
        raise SurvivalInputError("covariates", "has no columns")
    bad = np.argwhere(~np.isfinite(x))
    if bad.size:
        r, c = bad[0]
        raise SurvivalInputError("covariates", f"row {r}, column {c} is missing or not finite")
    names = list(names) if names is not None else default or [f"x{i + 1}" for i in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise SurvivalInputError("names", f"has {len(names)} names for {x.shape[1]} columns")
    return x, names


class CoxPH:
    """Cox proportional hazards by Newton-Raphson, as R's ``coxph`` (see the module docstring).

    >>> cox = CoxPH(ties="efron").fit([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0], [[0], [1], [0], [1], [0], [1]])
    >>> round(float(cox.coef[0]), 4)
    -0.2739
    """

    def __init__(self, ties: str = "efron", conf_level: float = 0.95, eps: float = 1e-9, max_iter: int = 20) -> None:
        if ties not in ("efron", "breslow"):
            raise SurvivalInputError("ties", f"must be 'efron' or 'breslow', got {ties!r}")
        if not 0 < conf_level < 1:
            raise SurvivalInputError("conf_level", f"must be between 0 and 1, got {conf_level!r}")
        self.ties = ties
        self.conf_level = conf_level
        self.eps = eps  # coxph.control(eps = 1e-9)
        self.max_iter = max_iter  # coxph.control(iter.max = 20)

    # The log partial likelihood, score vector and information matrix at beta.
    def _derivatives(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        x, p = self._x, self._x.shape[1]
        eta = x @ beta
        shift = eta.max()  # exp() of large values overflows; the shift cancels below
        w = np.exp(eta - shift)
        # Risk-set sums at each distinct time: reverse cumulative sums over rows sorted by time.
        r0 = np.cumsum(w[::-1])[::-1]
        r1 = np.cumsum((w[:, None] * x)[::-1], axis=0)[::-1]
        r2 = np.cumsum((w[:, None, None] * x[:, :, None] * x[:, None, :])[::-1], axis=0)[::-1]
        loglik, score, info = 0.0, np.zeros(p), np.zeros((p, p))
        for first, deaths in self._event_times:
            d = len(deaths)
            wd = w[deaths]
            d0, d1 = wd.sum(), wd @ x[deaths]
            d2 = np.einsum("i,ij,ik->jk", wd, x[deaths], x[deaths])
            loglik += eta[deaths].sum()
            score += x[deaths].sum(axis=0)
            for k in range(d):
                f = k / d if self.ties == "efron" else 0.0
                s0 = r0[first] - f * d0
                s1 = r1[first] - f * d1
                s2 = r2[first] - f * d2
                loglik -= math.log(s0) + shift
                mean = s1 / s0
                score -= mean
                info += s2 / s0 - np.outer(mean, mean)
        return loglik, score, info

    def fit(self, durations: Any, events: Any, covariates: Any, names: Sequence[str] | None = None) -> "CoxPH":
        t, e = _durations_events(durations, events)
        x, self.names = _covariates(covariates, len(t), names)
        if e.sum() == 0:
            raise SurvivalInputError("events", "has no events: a Cox model cannot be fitted")
        order = np.argsort(t, kind="stable")
        t, e, x = t[order], e[order], x[order]
        self._x = x - x.mean(axis=0)  # centring changes no estimate; it keeps exp() tame
        self._event_times = []
        for time in np.unique(t[e == 1]):
            first = int(np.searchsorted(t, time, side="left"))
            self._event_times.append((first, np.flatnonzero((t == time) & (e == 1))))
        p = x.shape[1]
        self.n, self.n_events = len(t), int(e.sum())

        beta = np.zeros(p)
        loglik0, u, info = self._derivatives(beta)
        inv = self._inverse(info)
        self.score_test = self._chi2(float(u @ inv @ u), p)
        self.loglik_null = loglik0
        # Newton-Raphson as R's coxfit6: accept a step unless it lowers the loglik, then halve it.
        loglik, new_beta, halving = loglik0, beta + inv @ u, False
        self.converged = False
        for iteration in range(1, self.max_iter + 1):
            new_loglik, u, info = self._derivatives(new_beta)
            if abs(1 - loglik / new_loglik) <= self.eps and not halving:
                self.converged = True
                break
            if iteration == self.max_iter:
                break
            if new_loglik < loglik:
                halving = True
                new_beta = (new_beta + beta) / 2
            else:
                halving = False
                loglik, beta = new_loglik, new_beta
                new_beta = new_beta + self._inverse(info) @ u
        if not self.converged:
            warnings.warn(f"Cox model did not converge in {self.max_iter} iterations", RuntimeWarning, stacklevel=2)
        self.iterations = iteration
        self.loglik = new_loglik
        self.coef = new_beta
        self.variance = self._inverse(info)
        self.se = np.sqrt(np.diag(self.variance))
        z = float(stats.norm.ppf(1 - (1 - self.conf_level) / 2))
        # R's coxph.fit: "Loglik converged before variable ...; coefficient may be infinite"
        # when |U' V| > eps and > toler.inf |b| (toler.inf = sqrt(eps)): monotone likelihood.
        # Like R, checked only after convergence (running out of iterations is its own warning).
        drift = np.abs(u @ self.variance)
        self.possibly_infinite = [
            name
            for name, d, b in zip(self.names, drift, self.coef)
            if self.converged and d > self.eps and d > math.sqrt(self.eps) * abs(b)
        ]
        if self.possibly_infinite:
            warnings.warn(
                f"Cox log-likelihood converged before {', '.join(self.possibly_infinite)}: the coefficient may be infinite",
                RuntimeWarning,
                stacklevel=2,
            )
        with np.errstate(over="ignore"):
            self.hazard_ratio = np.exp(self.coef)
            self.hr_lower = np.exp(self.coef - z * self.se)
            self.hr_upper = np.exp(self.coef + z * self.se)
        self.z = self.coef / self.se
        self.p = stats.chi2.sf(self.z**2, 1)  # summary.coxph: pchisq(z^2, 1, lower.tail = FALSE)
        self.wald_test = self._chi2(float(self.coef @ np.linalg.solve(self.variance, self.coef)), p)
        self.likelihood_ratio_test = self._chi2(float(2 * (self.loglik - self.loglik_null)), p)
        self.summary = pd.DataFrame(
            {
                "coef": self.coef,
                "se": self.se,
                "hazard_ratio": self.hazard_ratio,
                "hr_lower": self.hr_lower,
                "hr_upper": self.hr_upper,
                "z": self.z,
                "p": self.p,
            },
            index=pd.Index(self.names, name="covariate"),
        )
        del self._x, self._event_times
        return self

    @staticmethod
    def _chi2(statistic: float, df: int) -> TestResult:
        return TestResult(statistic, df, float(stats.chi2.sf(statistic, df)))

    @staticmethod
    def _inverse(info: np.ndarray) -> np.ndarray:
        try:
            np.linalg.cholesky(info)
        except np.linalg.LinAlgError:
            raise SurvivalInputError(
                "covariates",
                "the information matrix is singular: a covariate is constant, collinear with "
                "others, or perfectly separates events",
            ) from None
        return np.linalg.inv(info)


# --- two or more arms from an ADaM ADTTE table ------------------------------------------------
# ADaM IG v1.1 / ADaM BDS-TTE: AVAL = the time (here in days), CNSR = 1 censored, 0 event;
# the arm is TRT01P (planned treatment, subject level) or, failing that, TRTP (record level).
ADTTE_COLUMNS = ("USUBJID", "PARAMCD", "AVAL", "CNSR")
ADTTE_ARM_COLUMNS = ("TRT01P", "TRTP")
# Peduzzi et al. 1996 (J Clin Epidemiol 49:1373-1379): fewer than about 10 events per
# Cox coefficient makes the estimates unreliable; we flag each arm below that.
FEW_EVENTS = 10


@dataclass(frozen=True)
class TimeToEvent:
    """One PARAMCD of an ADTTE table as arrays: durations (AVAL), events (1 - CNSR), arms."""

    param: str
    arm_column: str
    subjects: tuple[str, ...]
    durations: np.ndarray
    events: np.ndarray
    arms: tuple[str, ...]


def adtte_arrays(rows: Sequence[dict[str, Any]], param: str | None = None, first_line: int = 2) -> TimeToEvent:
    """Rows of an ADTTE table (dicts of strings, as csv.DictReader gives) -> arrays for ``param``.

    Raises SurvivalInputError with ``field`` = the column (or ``"--param"``), and the
    line number (``first_line`` is the line of the first row; 2 after a CSV header).
    """
    columns = set(rows[0]) if rows else set()
    missing = [c for c in ADTTE_COLUMNS if c not in columns]
    if not rows:
        raise SurvivalInputError("(file)", "has no data rows")
    if missing:
        raise SurvivalInputError(missing[0], f"column missing (an ADTTE file needs {', '.join(ADTTE_COLUMNS)})")
    arm_column = next((c for c in ADTTE_ARM_COLUMNS if c in columns), None)
    if arm_column is None:
        raise SurvivalInputError("TRT01P", "column missing (an ADTTE file needs TRT01P or TRTP for the arm)")
    params = sorted({(r.get("PARAMCD") or "").strip() for r in rows})
    if param is None:
        if len(params) > 1:
            raise SurvivalInputError("--param", f"the file has several PARAMCDs ({', '.join(params)}): choose one")
        param = params[0]
    elif param not in params:
        raise SurvivalInputError("--param", f"PARAMCD {param!r} is not in the file (it has {', '.join(params)})")
    subjects, durations, events, arms, seen = [], [], [], [], {}
    for line, row in enumerate(rows, start=first_line):
        if (row.get("PARAMCD") or "").strip() != param:
            continue

        def fail(column: str, reason: str, line: int = line) -> SurvivalInputError:
            return SurvivalInputError(column, f"line {line}: {reason}")

        subject = (row.get("USUBJID") or "").strip()
        if not subject:
            raise fail("USUBJID", "is empty")
        if subject in seen:
            raise fail("USUBJID", f"{subject} has a second {param} row (the first is on line {seen[subject]})")
        seen[subject] = line
        arm = (row.get(arm_column) or "").strip()
        if not arm:
            raise fail(arm_column, "is empty")
        text = (row.get("AVAL") or "").strip()
        try:
            aval = float(text)
        except ValueError:
            raise fail("AVAL", f"{text!r} is not a number") from None
        if not math.isfinite(aval) or aval < 0:
            raise fail("AVAL", f"{text!r} is not a time >= 0")
        text = (row.get("CNSR") or "").strip()
        try:
            cnsr = float(text)
        except ValueError:
            cnsr = math.nan
        if cnsr not in (0.0, 1.0):
            raise fail("CNSR", f"{text!r} is not 1 (censored) or 0 (event)")
        subjects.append(subject)
        durations.append(aval)
        events.append(1 - int(cnsr))
        arms.append(arm)
    n_arms = len(set(arms))
    if n_arms < 2:
        raise SurvivalInputError(arm_column, f"{param} has {n_arms} arm(s); comparing arms needs at least 2")
    return TimeToEvent(param, arm_column, tuple(subjects), np.array(durations), np.array(events), tuple(arms))


def _num(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def compare_arms(
    durations: Any, events: Any, arms: Any, at: Sequence[float] = (), ties: str = "efron",
    reference: str | None = None,
) -> dict[str, Any]:
    """Per-arm KM (n, events, median with CI, S at ``at``), log-rank, Cox arm effect.

    Arms are taken in sorted order, ``reference`` (e.g. the control arm) first when
    given; the Cox model has one indicator per arm after the first (the reference), so
    with two arms the hazard ratio is the other arm vs the reference. Returns plain JSON-ready data (NaN -> None); docs/analysis.md documents it.
    """
    t, e = _durations_events(durations, events)
    g = _groups(arms, len(t))
    levels = sorted({str(v) for v in g})
    if reference is not None and reference in levels:  # the control arm first: HRs read as "other vs control"
        levels = [reference, *[x for x in levels if x != reference]]
    g = np.array([str(v) for v in g])
    if len(levels) < 2:
        raise SurvivalInputError("arms", f"needs at least 2 arms, got {len(levels)}")
    at = [float(x) for x in at]
    caveats = []
    out_arms = []
    for arm in levels:
        m = g == arm
        km = KaplanMeier().fit(t[m], e[m])
        table = km.survival_at(at) if at else None
        out_arms.append(
            {
                "arm": arm,
                "n": km.n,
                "events": km.n_events,
                "median": {"estimate": _num(km.median.median), "lower": _num(km.median.lower),
                           "upper": _num(km.median.upper)},
                "survival_at": [
                    {"day": float(r.time), "n_risk": int(r.n_risk), "survival": _num(r.survival),
                     "std_err": _num(r.std_err), "lower": _num(r.lower), "upper": _num(r.upper)}
                    for r in (table.itertuples() if table is not None else [])
                ],
            }
        )  # fmt: skip
        if km.n_events < FEW_EVENTS:
            caveats.append(
                f"{arm}: {km.n_events} event{'' if km.n_events == 1 else 's'} in {km.n} subjects; with fewer than {FEW_EVENTS} events "
                "per arm the estimates are imprecise: read the confidence intervals"
            )
        if math.isnan(km.median.median):
            caveats.append(f"{arm}: the median is not reached (survival stays above 0.5)")
        for r in out_arms[-1]["survival_at"]:
            if r["survival"] is None:
                caveats.append(f"{arm}: day {r['day']:g} is after the last follow-up; no estimate")
    lr = logrank_test(t, e, g)
    for entry, expected in zip(out_arms, lr.expected):
        entry["expected_events"] = expected
    indicators = np.column_stack([(g == arm).astype(float) for arm in levels[1:]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # reported as caveats instead
            cox = CoxPH(ties=ties).fit(t, e, indicators, names=levels[1:])
    except SurvivalInputError as err:  # e.g. the information matrix turns singular (R: coef NA)
        caveats.append(f"the Cox model cannot be fitted: {err.reason}")
        cox = None
    if cox is not None and not cox.converged:
        caveats.append(
            "the Cox model did not converge in 20 iterations (often a log hazard ratio running to "
            "infinity, e.g. an arm without events): do not use its estimates"
        )
    for arm in cox.possibly_infinite if cox is not None else []:
        caveats.append(
            f"Cox: the log hazard ratio of {arm} vs {levels[0]} may be infinite (monotone likelihood, "
            "e.g. an arm without events): its estimate, CI and Wald p are not meaningful"
        )

    def test(result: TestResult) -> dict[str, Any]:
        return {"statistic": _num(result.statistic), "df": result.df, "p": _num(result.p)}

    return {
        "n": len(t),
        "events": int(e.sum()),
        "arms": out_arms,
        "logrank": {"chisq": _num(lr.chisq), "df": lr.df, "p": _num(lr.p)},
        "cox": None if cox is None else {
            "reference_arm": levels[0],
            "ties": ties,
            "comparisons": [
                {"arm": arm, "label": f"{arm} vs {levels[0]}", "coef": _num(cox.coef[i]), "se": _num(cox.se[i]),
                 "hazard_ratio": _num(cox.hazard_ratio[i]), "lower": _num(cox.hr_lower[i]),
                 "upper": _num(cox.hr_upper[i]), "z": _num(cox.z[i]), "p": _num(cox.p[i])}
                for i, arm in enumerate(levels[1:])
            ],
            "wald": test(cox.wald_test),
            "likelihood_ratio": test(cox.likelihood_ratio_test),
            "score": test(cox.score_test),
            "loglik_null": _num(cox.loglik_null),
            "loglik": _num(cox.loglik),
            "converged": cox.converged,
        },  # fmt: skip
        "conf_level": 0.95,
        "caveats": caveats,
    }


def render_arm_comparison(result: dict[str, Any]) -> list[str]:
    """``compare_arms``' result as readable lines (NR = not reached, NA = not estimable)."""

    def f(x: float | None, digits: int = 4) -> str:
        return "NA" if x is None else f"{x:.{digits}g}"

    def days(x: float | None) -> str:
        return "NR" if x is None else f"{x:g}"

    width = max(len("Arm"), *(len(a["arm"]) for a in result["arms"]))
    lines = [f"{'Arm':<{width}}  {'n':>5}  {'events':>6}  median (95% CI), days"]
    for a in result["arms"]:
        m = a["median"]
        lines.append(f"{a['arm']:<{width}}  {a['n']:>5}  {a['events']:>6}  "
                     f"{days(m['estimate'])} ({days(m['lower'])} to {days(m['upper'])})")  # fmt: skip
    if any(a["survival_at"] for a in result["arms"]):
        lines += ["", f"{'Day':>8}  {'Arm':<{width}}  {'at risk':>7}  {'S(t)':>7}  {'SE':>7}  95% CI (log)"]
        for i in range(len(result["arms"][0]["survival_at"])):
            for a in result["arms"]:
                r = a["survival_at"][i]
                lines.append(f"{r['day']:>8g}  {a['arm']:<{width}}  {r['n_risk']:>7}  {f(r['survival']):>7}  "
                             f"{f(r['std_err']):>7}  {f(r['lower'])} to {f(r['upper'])}")  # fmt: skip
    lr, cox = result["logrank"], result["cox"]
    lines += ["", f"Log-rank: chi-square {lr['chisq']:.4f} on {lr['df']} df, p = {f(lr['p'])}"]
    if cox is None:
        return lines + [f"Caveat: {c}" for c in result["caveats"]]
    for c in cox["comparisons"]:
        lines.append(f"Cox ({cox['ties']} ties): hazard ratio {c['label']} {f(c['hazard_ratio'])} "
                     f"(95% CI {f(c['lower'])} to {f(c['upper'])})")  # fmt: skip
    lines.append(f"  p: Wald {f(cox['wald']['p'])}, likelihood ratio {f(cox['likelihood_ratio']['p'])}, "
                 f"score {f(cox['score']['p'])}")  # fmt: skip
    lines += [f"Caveat: {c}" for c in result["caveats"]]
    return lines
