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
