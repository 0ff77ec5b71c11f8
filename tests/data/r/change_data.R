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
