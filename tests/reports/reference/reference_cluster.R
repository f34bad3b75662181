# Reference numbers for the cluster-aware estimates of reports/analysis/ (clustered.py,
# survival.py), computed with R on cluster.csv and stepped_wedge.csv (make_cluster_data.py).
#
# Run from this folder:  Rscript reference_cluster.R > reference_cluster_r.csv
# (R 4.2.2, survival 3.5-3, clubSandwich 0.5.8, AER 1.2-10 from Debian bookworm; the output
# is committed.)
#
# Every interval and p-value uses a t reference with K - 2 degrees of freedom (K clusters),
# or F(1, K - 2) for a squared statistic, as the report does; the standard errors are:
# - least squares and two-stage least squares (AER::ivreg): clubSandwich::vcovCR(type = "CR2");
# - means by arm: intercept-only lm with CR2, t(K_arm - 1);
# - Cox regression: survival::coxph(..., cluster = site), the Lin-Wei robust sandwich (Efron
#   ties, as the report uses when event times are tied);
# - the cluster-adjusted log-rank test: the robust score test of coxph(..., cluster = site,
#   ties = "breslow") at beta = 0 (fit$rscore), whose numerator is the log-rank O - E.
suppressPackageStartupMessages({
  library(survival)
  library(clubSandwich)
  library(AER)
})

out <- list()
add <- function(model, estimate, se, df, log_scale = FALSE, statistic = NA) {
  q <- qt(0.975, df)
  low <- estimate - q * se
  high <- estimate + q * se
  p <- 2 * pt(-abs(estimate / se), df)
  if (log_scale) {
    estimate <- exp(estimate); low <- exp(low); high <- exp(high)
  }
  out[[model]] <<- data.frame(
    model = model, estimate = estimate, se = se, ci_low = low, ci_high = high,
    p_value = p, statistic = statistic, df = df
  )
}
cr2 <- function(fit, cluster, name) {
  v <- vcovCR(fit, cluster = cluster, type = "CR2")
  c(coef(fit)[[name]], sqrt(diag(v))[[name]])
}

d <- read.csv("cluster.csv")
K <- length(unique(d$site))

fit <- lm(y_bin ~ treat, data = d)
r <- cr2(fit, d$site, "treat"); add("cr2_itt_binary", r[1], r[2], K - 2)
# clubSandwich's own t test with J - p degrees of freedom (p = 2 here) gives the same p-value.
ct <- coef_test(fit, vcov = "CR2", cluster = d$site, test = "naive-tp", coefs = "treat")
stopifnot(abs(ct$p_tp - out$cr2_itt_binary$p_value) < 1e-12)

fit <- lm(y ~ treat, data = d)
r <- cr2(fit, d$site, "treat"); add("cr2_itt", r[1], r[2], K - 2)

fit <- lm(y ~ treat + age + female, data = d)
r <- cr2(fit, d$site, "treat"); add("cr2_itt_adjusted", r[1], r[2], K - 2)

fit <- ivreg(y ~ received | treat, data = d)
r <- cr2(fit, d$site, "received"); add("cr2_cace", r[1], r[2], K - 2)

pp <- d[!(d$treat == 0 & d$exposed == 1), ]
fit <- lm(y ~ treat, data = pp)
r <- cr2(fit, pp$site, "treat"); add("cr2_per_protocol", r[1], r[2], length(unique(pp$site)) - 2)

fit <- lm(y ~ received, data = d)
r <- cr2(fit, d$site, "received"); add("cr2_as_treated", r[1], r[2], K - 2)

arm <- d[d$treat == 1, ]
fit <- lm(y_bin ~ 1, data = arm)
r <- cr2(fit, arm$site, "(Intercept)"); add("cr2_mean_arm1", r[1], r[2], length(unique(arm$site)) - 1)

for (level in c(0, 1)) {
  part <- d[d$female == level, ]
  fit <- lm(y ~ treat, data = part)
  r <- cr2(fit, part$site, "treat")
  add(sprintf("cr2_subgroup_female_%d", level), r[1], r[2], length(unique(part$site)) - 2)
}
fit <- lm(y ~ treat * female, data = d)
v <- vcovCR(fit, cluster = d$site, type = "CR2")
w <- coef(fit)[["treat:female"]]^2 / v["treat:female", "treat:female"]
out$cr2_interaction <- data.frame(
  model = "cr2_interaction", estimate = coef(fit)[["treat:female"]],
  se = sqrt(v["treat:female", "treat:female"]), ci_low = NA, ci_high = NA,
  p_value = pf(w, 1, K - 2, lower.tail = FALSE), statistic = w, df = K - 2
)

fit <- coxph(Surv(months, event) ~ treat, data = d, cluster = site, ties = "efron")
add("cox_robust", coef(fit)[["treat"]], sqrt(diag(fit$var))[1], K - 2, log_scale = TRUE)
fit <- coxph(Surv(months, event) ~ treat + age, data = d, cluster = site, ties = "efron")
add("cox_robust_adjusted", coef(fit)[["treat"]], sqrt(diag(fit$var))[1], K - 2, log_scale = TRUE)
# Without tied times (the report then fits Breslow's likelihood, equal to Efron's):
# months minus row / 1000.
d$exact <- d$months - seq_len(nrow(d)) / 1000
fit <- coxph(Surv(exact, event) ~ treat, data = d, cluster = site, ties = "breslow")
add("cox_robust_untied", coef(fit)[["treat"]], sqrt(diag(fit$var))[1], K - 2, log_scale = TRUE)

logrank <- function(model, formula, data) {
  fit <- coxph(formula, data = data, cluster = site, ties = "breslow")
  k <- length(unique(data$site))
  out[[model]] <<- data.frame(
    model = model, estimate = NA, se = NA, ci_low = NA, ci_high = NA,
    p_value = pf(fit$rscore, 1, k - 2, lower.tail = FALSE), statistic = fit$rscore, df = k - 2
  )
}
logrank("robust_logrank", Surv(months, event) ~ treat, d)

sw <- read.csv("stepped_wedge.csv")
Ksw <- length(unique(sw$site))
fit <- coxph(Surv(months, event) ~ treat + strata(period), data = sw, cluster = site,
             ties = "efron")
add("cox_robust_stepped_wedge", coef(fit)[["treat"]], sqrt(diag(fit$var))[1], Ksw - 2,
    log_scale = TRUE)
logrank("robust_logrank_stepped_wedge", Surv(months, event) ~ treat + strata(period), sw)

write.csv(do.call(rbind, out), stdout(), row.names = FALSE)
