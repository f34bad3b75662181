# Reference numbers for reports/analysis/ordinal_count.py, computed with R.
#
# Run from this folder:  Rscript reference.R > reference_r.csv
# (R 4.2.2, MASS 7.3-58.2, sandwich 3.0-2 from Debian bookworm; the output is committed.)
#
# Count outcome: Poisson GLM (log link), robust sandwich covariance HC0 (sandwich::sandwich),
# Wald 95% CI and two-sided p-value with a normal reference.
# Ordinal outcome: proportional-odds model MASS::polr (logistic), logit P(Y <= k) = zeta_k - eta,
# covariance from the Hessian (Hess = TRUE), Wald 95% CI and p-value with a normal reference.
suppressPackageStartupMessages({
  library(MASS)
  library(sandwich)
})

row <- function(model, coef, se) {
  z <- qnorm(0.975)
  data.frame(
    model = model,
    log_estimate = coef,
    se = se,
    estimate = exp(coef),
    ci_low = exp(coef - z * se),
    ci_high = exp(coef + z * se),
    p_value = 2 * pnorm(-abs(coef / se))
  )
}

counts <- read.csv("counts.csv")
counts$site <- factor(counts$site)
out <- list()
for (spec in list(
  list(name = "poisson_unadjusted", formula = y ~ treat),
  list(name = "poisson_adjusted", formula = y ~ treat + age + site)
)) {
  fit <- glm(spec$formula, family = poisson(link = "log"), data = counts)
  se <- sqrt(diag(sandwich(fit)))[["treat"]]
  out[[spec$name]] <- row(spec$name, coef(fit)[["treat"]], se)
}

ordinal <- read.csv("ordinal.csv")
ordinal$site <- factor(ordinal$site)
ordinal$y <- factor(ordinal$y, ordered = TRUE)
for (spec in list(
  list(name = "polr_unadjusted", formula = y ~ treat),
  list(name = "polr_adjusted", formula = y ~ treat + age + site)
)) {
  fit <- polr(spec$formula, data = ordinal, Hess = TRUE, method = "logistic",
              control = list(reltol = 1e-12, maxit = 1000))
  se <- sqrt(diag(vcov(fit)))[["treat"]]
  out[[spec$name]] <- row(spec$name, coef(fit)[["treat"]], se)
}

write.csv(do.call(rbind, out), stdout(), row.names = FALSE, quote = FALSE)
