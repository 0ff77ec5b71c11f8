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
