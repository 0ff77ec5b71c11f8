# Reference values for hepatrial.core.analysis.incidence, from base R (stats).
# Run: Rscript tests/data/r/incidence.R > tests/data/r/incidence.json
# No jsonlite needed: JSON is written with sprintf("%.15g").
num <- function(v) sprintf("%.15g", v)
vec <- function(v) paste0("[", paste(num(v), collapse = ", "), "]")

# 1. Clopper-Pearson: binom.test(x, n)$conf.int (two-sided, 95% and 90%).
grid <- list(c(0, 10), c(10, 10), c(3, 10), c(7, 20), c(1, 10), c(5, 10),
             c(0, 1), c(1, 1), c(2, 7), c(13, 40), c(56, 70), c(0, 312))
cp <- character(0)
for (g in grid) for (level in c(0.95, 0.90)) {
  ci <- binom.test(g[1], g[2], conf.level = level)$conf.int
  cp <- c(cp, sprintf('{"x": %d, "n": %d, "level": %s, "lower": %s, "upper": %s}',
                      g[1], g[2], num(level), num(ci[1]), num(ci[2])))
}

# 2. Fisher's exact test, two-sided: fisher.test(matrix(c(x1, n1 - x1, x2, n2 - x2), 2))$p.value
tables <- list(c(3, 10, 7, 10), c(0, 10, 5, 10), c(10, 10, 0, 10), c(5, 10, 5, 10),
               c(2, 10, 1, 10), c(7, 20, 3, 20), c(56, 70, 48, 80), c(1, 9, 8, 11),
               c(0, 10, 0, 10), c(4, 12, 9, 11), c(9, 10, 3, 10), c(5, 56, 0, 29))
fi <- character(0)
for (t in tables) {
  m <- matrix(c(t[1], t[2] - t[1], t[3], t[4] - t[3]), nrow = 2)  # columns = arms
  p <- fisher.test(m)$p.value
  fi <- c(fi, sprintf('{"x1": %d, "n1": %d, "x2": %d, "n2": %d, "p": %s}',
                      t[1], t[2], t[3], t[4], num(p)))
}

# 3. Newcombe (1998) method 10, built from Wilson score intervals without continuity
#    correction; prop.test(x, n, correct = FALSE)$conf.int is the Wilson interval.
#    L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2), U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
wilson <- function(x, n, level) suppressWarnings(prop.test(x, n, conf.level = level, correct = FALSE)$conf.int)
newcombe10 <- function(x1, n1, x2, n2, level = 0.95) {
  p1 <- x1 / n1; p2 <- x2 / n2; w1 <- wilson(x1, n1, level); w2 <- wilson(x2, n2, level)
  d <- p1 - p2
  c(d, d - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2), d + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2))
}
# Newcombe 1998, Table II examples (a)-(h), plus trial-sized tables.
contrasts <- list(c(56, 70, 48, 80), c(9, 10, 3, 10), c(6, 7, 2, 7), c(5, 56, 0, 29),
                  c(0, 10, 0, 20), c(0, 10, 0, 10), c(10, 10, 0, 20), c(10, 10, 0, 10),
                  c(3, 10, 7, 10), c(2, 10, 0, 10))
nc <- character(0)
for (k in contrasts) for (level in c(0.95, 0.90)) {
  r <- newcombe10(k[1], k[2], k[3], k[4], level)
  nc <- c(nc, sprintf('{"x1": %d, "n1": %d, "x2": %d, "n2": %d, "level": %s, "difference": %s, "lower": %s, "upper": %s}',
                      k[1], k[2], k[3], k[4], num(level), num(r[1]), num(r[2]), num(r[3])))
}

cat("{\n")
cat(sprintf('  "generated_by": "%s; tests/data/r/incidence.R",\n', R.version.string))
cat('  "clopper_pearson": [\n    ', paste(cp, collapse = ",\n    "), "\n  ],\n", sep = "")
cat('  "fisher": [\n    ', paste(fi, collapse = ",\n    "), "\n  ],\n", sep = "")
cat('  "newcombe": [\n    ', paste(nc, collapse = ",\n    "), "\n  ]\n", sep = "")
cat("}\n")
