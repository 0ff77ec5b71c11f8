r'''Change from baseline by ANCOVA at each visit (hepatrial.core.analysis.ancova) checked against R's lm().

Data: those of tests/core/test_change_by_visit_vs_r.py (R's survival::pbcseq, change in log
bilirubin at annual visits 1-4 years; and the simulated 2 x 10 trial, change in MELD at days 7,
14, 28 and 84). Expected numbers: tests/data/r/ancova_by_visit.json, written with R 4.2.2 run here
by tests/data/r/ancova_by_visit.R. Tolerance 1e-9 relative (closed-form least squares both sides);
df exact.

The R code (tests/data/r/ancova_by_visit.R and the data script it sources, tests/data/r/change_data.R,
verbatim; a test keeps them identical):

# Reference values for hepatrial.core.analysis.ancova.ancova_by_visit, from R's lm().
# Run: Rscript tests/data/r/ancova_by_visit.R > tests/data/r/ancova_by_visit.json
# No jsonlite needed: JSON is written with sprintf("%.15g").
#
# At each visit on its own: lm(chg ~ arm + baseline), arm with the reference arm REF as its
# reference level: the arm coefficient is the baseline-adjusted difference (other - REF) in
# change at that visit, with n - 3 residual df; each arm's adjusted mean change is predict()
# at the mean baseline of the subjects seen at that visit. The data are those of
# tests/data/r/change_by_visit.R (tests/data/r/change_data.R, source()d by both).
num <- function(v) ifelse(is.na(v), "null", sprintf("%.15g", v))
vec <- function(v) paste0("[", paste(num(v), collapse = ", "), "]")

analyse <- function(d, ref) {
  d <- d[!is.na(d$chg), ]
  other <- setdiff(sort(unique(as.character(d$arm))), ref)
  by <- lapply(sort(unique(d$visit)), function(v) {
    x <- d[d$visit == v, ]
    x$arm <- relevel(factor(x$arm), ref = ref)
    m <- lm(chg ~ arm + baseline, data = x)
    a <- paste0("arm", other)
    t <- summary(m)$coefficients
    ci <- confint(m, level = 0.95)
    at <- data.frame(arm = factor(c(ref, other), levels = levels(x$arm)), baseline = mean(x$baseline))
    pr <- predict(m, newdata = at, se.fit = TRUE)
    c(visit = v, n_reference = sum(x$arm == ref), n_other = sum(x$arm == other),
      estimate = t[a, "Estimate"], se = t[a, "Std. Error"], df = m$df.residual, t = t[a, "t value"],
      p = t[a, "Pr(>|t|)"], lower = ci[a, 1], upper = ci[a, 2], sd_residual = summary(m)$sigma,
      baseline_mean = mean(x$baseline), slope = t["baseline", "Estimate"],
      mean_reference = unname(pr$fit[1]), se_mean_reference = unname(pr$se.fit[1]),
      mean_other = unname(pr$fit[2]), se_mean_other = unname(pr$se.fit[2]))
  })
  by <- do.call(rbind, by)
  paste0('{"reference": "', ref, '", "other": "', other, '",\n    "by_visit": {\n',
         paste(sprintf('      "%s": %s', colnames(by), apply(by, 2, vec)), collapse = ",\n"), '\n    }\n  }')
}

source("tests/data/r/change_data.R")  # data frames pbc and sim, as change_by_visit.R

cat("{\n")
cat(sprintf('  "generated_by": "%s; tests/data/r/ancova_by_visit.R",\n', R.version.string))
cat('  "pbcseq": ', analyse(pbc, "0"), ',\n', sep = "")
cat('  "simulated": ', analyse(sim, "Control"), '\n', sep = "")
cat("}\n")

# tests/data/r/change_data.R:
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
'''

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_change_by_visit_vs_r import REFERENCE, pbcseq_change, simulated

from hepatrial.core.analysis.ancova import AncovaInputError, ancova_by_visit

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r"
EXPECTED = json.loads((R_DIR / "ancova_by_visit.json").read_text(encoding="utf-8"))


def test_the_docstring_carries_the_r_script_verbatim():
    assert (R_DIR / "ancova_by_visit.R").read_text(encoding="utf-8") in __doc__
    assert (R_DIR / "change_data.R").read_text(encoding="utf-8") in __doc__
    assert "lm(chg ~ arm + baseline" in __doc__


@pytest.mark.parametrize("name", ["pbcseq", "simulated"])
def test_each_visit_equals_rs_lm(name, request):
    data = pbcseq_change(request.getfixturevalue("pbcseq")) if name == "pbcseq" else simulated()
    data = {k: data[k] for k in ("change", "visit", "arm", "baseline")}
    result = ancova_by_visit(**data, reference=REFERENCE[name])
    by = EXPECTED[name]["by_visit"]
    assert (result.reference, result.other) == (EXPECTED[name]["reference"], EXPECTED[name]["other"])
    assert [float(v.visit) for v in result.visits] == by["visit"] and result.not_estimable == ()
    assert [v.df for v in result.visits] == by["df"]
    assert [(v.n_reference, v.n_other) for v in result.visits] == list(zip(by["n_reference"], by["n_other"]))
    for ours, theirs in (("difference", "estimate"), ("se", "se"), ("t", "t"), ("p", "p"), ("lower", "lower"),
                         ("upper", "upper"), ("sd_residual", "sd_residual"), ("baseline_mean", "baseline_mean"),
                         ("slope", "slope"), ("mean_reference", "mean_reference"), ("se_mean_reference", "se_mean_reference"),
                         ("mean_other", "mean_other"), ("se_mean_other", "se_mean_other")):  # fmt: skip
        np.testing.assert_allclose([getattr(v, ours) for v in result.visits], by[theirs], rtol=1e-9, err_msg=ours)


def test_a_visit_with_too_few_subjects_is_named_not_estimable():
    change = [1.0, 2.0, 0.5, -1.0, -2.0, 1.5, 0.0, 3.0]
    visit = [7, 7, 7, 7, 7, 28, 28, 28]
    arm = ["A", "A", "B", "B", "B", "A", "B", "B"]
    result = ancova_by_visit(change, visit, arm, [20, 25, 22, 27, 30, 20, 22, 27], reference="A")
    assert [v.visit for v in result.visits] == [7] and result.not_estimable == (28,)  # day 28: one subject of A
    assert result.caveat and "Small arms" in result.caveat


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"reference": "C"}, "reference"),
    ({"arm": ["A"] * 6}, "arm"),
    ({"baseline": [1.0] * 5}, "baseline"),
    ({"baseline": [1.0, None, 2.0, 3.0, 4.0, 5.0]}, "baseline"),
    ({"level": 1.0}, "level"),
])  # fmt: skip
def test_bad_input_names_the_argument(kwargs, field):
    args = dict(change=[1.0, 2.0, 0.5, -1.0, -2.0, 1.0], visit=[7] * 6, arm=["A", "A", "A", "B", "B", "B"],
                baseline=[20.0, 21.0, 25.0, 22.0, 27.0, 30.0], reference="A") | kwargs  # fmt: skip
    args["baseline"] = [np.nan if x is None else x for x in args["baseline"]]
    with pytest.raises(AncovaInputError) as err:
        ancova_by_visit(**args)
    assert err.value.field == field
