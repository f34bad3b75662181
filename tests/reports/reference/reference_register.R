# Reference numbers for the register endpoints (reports/registers.py) and their models
# (reports/analysis/effect.py), computed with R on register_people.csv and register_spells.csv
# (make_register_data.py).
#
# Run from this folder:  Rscript reference_register.R
# It writes register_endpoints_r.csv (each participant's endpoints, derived here from the
# spells independently of the Python code) and reference_register_r.csv (the models).
# (R 4.2.2, survival 3.5-3, sandwich 3.0-2, clubSandwich 0.5.8 from Debian bookworm; the
# output is committed.)
#
# Endpoints, as reports/registers.py defines them, with follow-up of 24 months, the register
# data used until the cut-off 2025-03-31 (spells starting later left out) and "work" the
# highest-priority state (so a month is a work month when any day of it is in a work spell):
# - months_in_work_0_12: work months among follow-up months 1-12 (month 1 runs from the day
#   of randomisation to the end of that calendar month); missing unless all 12 are observed
#   (a month is observed when its calendar month starts on or before the cut-off);
# - months_in_work_12_24: the same for months 13-24;
# - in_work_at_12: month 12 is a work month (missing when not observed);
# - time_to_first_work: days from randomisation to the start of the first work spell reaching
#   into follow-up (0 for one going on at randomisation) / 30.4375; censored at the earlier of
#   the last day of month 24 and the cut-off.
# Models:
# - individual randomisation: Welch t test (t.test), ANCOVA with HC3 (sandwich::vcovHC) and a
#   t(n - p) reference; risk difference with the Wald SE p(1-p)/n; Cox (Efron) with the
#   model-based SE and a normal reference; log-rank (survdiff); Kaplan-Meier medians (first
#   time the survfit curve is at or below 0.5);
# - cluster randomisation (12 sites): least squares with clubSandwich::vcovCR(type = "CR2")
#   and t(K - 2); Cox with cluster = site (Lin-Wei) and t(K - 2).
suppressPackageStartupMessages({
  library(survival)
  library(sandwich)
  library(clubSandwich)
})

cut_off <- as.Date("2025-03-31")
months <- 24
people <- read.csv("register_people.csv", stringsAsFactors = FALSE)
spells <- read.csv("register_spells.csv", stringsAsFactors = FALSE)
spells$starts_on <- as.Date(spells$starts_on)
spells$ends_on <- as.Date(ifelse(spells$ends_on == "", NA, spells$ends_on))
spells <- spells[spells$starts_on <= cut_off, ]

first_of_month <- function(day) as.Date(format(day, "%Y-%m-01"))
add_months <- function(first, k) seq(first, by = "month", length.out = k + 1)[k + 1]

derive <- function(i) {
  anchor <- as.Date(people$randomised_on[i])
  mine <- spells[spells$study_id == people$study_id[i], ]
  firsts <- seq(first_of_month(anchor), by = "month", length.out = months + 1)
  work <- logical(months)
  observed <- firsts[1:months] <= cut_off
  for (m in 1:months) {
    lo <- if (m == 1) anchor else firsts[m]
    hi <- firsts[m + 1] - 1
    ends <- ifelse(is.na(mine$ends_on), as.numeric(as.Date("9999-12-31")), as.numeric(mine$ends_on))
    work[m] <- any(as.numeric(mine$starts_on) <= as.numeric(hi) & ends >= as.numeric(lo))
  }
  window <- function(a, b) if (all(observed[(a + 1):b])) sum(work[(a + 1):b]) else NA
  last <- min(firsts[months + 1] - 1, cut_off)
  reach <- mine[is.na(mine$ends_on) | mine$ends_on >= anchor, ]
  starts <- pmax(reach$starts_on, anchor)
  starts <- starts[starts <= last]
  event <- length(starts) > 0
  stop <- if (event) min(starts) else last
  data.frame(
    study_id = people$study_id[i],
    months_in_work_0_12 = window(0, 12),
    months_in_work_12_24 = window(12, 24),
    in_work_at_12 = if (observed[12]) as.integer(work[12]) else NA,
    months = as.numeric(stop - anchor) / (365.25 / 12),
    event = as.integer(event)
  )
}
endpoints <- do.call(rbind, lapply(seq_len(nrow(people)), derive))
write.csv(endpoints, "register_endpoints_r.csv", row.names = FALSE, na = "")

d <- merge(people, endpoints, by = "study_id")
K <- length(unique(d$site))
out <- list()
add <- function(model, estimate, se, df, log_scale = FALSE, statistic = NA) {
  q <- if (is.finite(df)) qt(0.975, df) else qnorm(0.975)
  low <- estimate - q * se
  high <- estimate + q * se
  p <- if (is.finite(df)) 2 * pt(-abs(estimate / se), df) else 2 * pnorm(-abs(estimate / se))
  if (log_scale) {
    estimate <- exp(estimate); low <- exp(low); high <- exp(high)
  }
  out[[model]] <<- data.frame(
    model = model, estimate = estimate, se = se, ci_low = low, ci_high = high,
    p_value = p, statistic = statistic, df = df
  )
}

y <- d[!is.na(d$months_in_work_0_12), ]
w <- t.test(months_in_work_0_12 ~ I(1 - treat), data = y, var.equal = FALSE)
out$welch <- data.frame(
  model = "welch", estimate = unname(w$estimate[1] - w$estimate[2]), se = w$stderr,
  ci_low = w$conf.int[1], ci_high = w$conf.int[2], p_value = w$p.value,
  statistic = unname(w$statistic), df = unname(w$parameter)
)
fit <- lm(months_in_work_0_12 ~ treat + age + female, data = y)
se <- sqrt(diag(vcovHC(fit, type = "HC3")))[["treat"]]
add("ancova_hc3", coef(fit)[["treat"]], se, fit$df.residual)

fit <- lm(months_in_work_0_12 ~ treat, data = y)
v <- vcovCR(fit, cluster = y$site, type = "CR2")
add("cr2_months", coef(fit)[["treat"]], sqrt(v["treat", "treat"]), K - 2)
fit <- lm(months_in_work_0_12 ~ treat + age + female, data = y)
v <- vcovCR(fit, cluster = y$site, type = "CR2")
add("cr2_months_adjusted", coef(fit)[["treat"]], sqrt(v["treat", "treat"]), K - 2)

b <- d[!is.na(d$in_work_at_12), ]
p1 <- mean(b$in_work_at_12[b$treat == 1]); n1 <- sum(b$treat == 1)
p0 <- mean(b$in_work_at_12[b$treat == 0]); n0 <- sum(b$treat == 0)
add("risk_difference", p1 - p0, sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0), Inf)

fit <- coxph(Surv(months, event) ~ treat, data = d, ties = "efron")
add("cox", coef(fit)[["treat"]], sqrt(vcov(fit)[1, 1]), Inf, log_scale = TRUE)
fit <- coxph(Surv(months, event) ~ treat + age + female, data = d, ties = "efron")
add("cox_adjusted", coef(fit)[["treat"]], sqrt(vcov(fit)[1, 1]), Inf, log_scale = TRUE)
fit <- coxph(Surv(months, event) ~ treat, data = d, ties = "efron", cluster = site)
add("cox_cluster", coef(fit)[["treat"]], sqrt(vcov(fit)[1, 1]), K - 2, log_scale = TRUE)
lr <- survdiff(Surv(months, event) ~ treat, data = d)
out$logrank <- data.frame(
  model = "logrank", estimate = NA, se = NA, ci_low = NA, ci_high = NA,
  p_value = pchisq(lr$chisq, 1, lower.tail = FALSE), statistic = lr$chisq, df = 1
)
# The report's median is the first time the curve is at or below 0.5; survfit's averages two
# times when the curve is exactly 0.5 on an interval, so the first time is taken directly.
medians <- sapply(0:1, function(arm) {
  fit <- survfit(Surv(months, event) ~ 1, data = d[d$treat == arm, ])
  min(fit$time[fit$surv <= 0.5 + 1e-12])
})
out$km_median_control <- data.frame(
  model = "km_median_control", estimate = medians[[1]], se = NA, ci_low = NA, ci_high = NA,
  p_value = NA, statistic = NA, df = NA
)
out$km_median_treated <- data.frame(
  model = "km_median_treated", estimate = medians[[2]], se = NA, ci_low = NA, ci_high = NA,
  p_value = NA, statistic = NA, df = NA
)
result <- do.call(rbind, out)
write.csv(format(result, digits = 15), "reference_register_r.csv", row.names = FALSE,
          quote = FALSE)
