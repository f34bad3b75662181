# Reference numbers for the repeated-measures GEE (reports/analysis/repeated.py), on
# repeated.csv (make_repeated_data.py).
#
# Run from this folder:  Rscript reference_repeated.R > reference_repeated_r.csv
# (R 4.2.2, geepack 1.3.9 from Debian bookworm; the output is committed.)
#
# Model: y ~ 0 + visit + visit:treat (the arm effect at each visit a coefficient); the overall
# effect is the average of the three.
# 1. An independent GEE written here (Gaussian, identity link), iterated to convergence with the
#    report's moment estimators of the working correlation:
#    - exchangeable: sum of products of residual pairs within a participant / scale /
#      (pairs - p), scale = sum of squared residuals / (N - p) (as statsmodels);
#    - AR(1) over the visits' order (rho^|wave distance|, a missed visit keeps its place):
#      sum of products of residuals at adjacent visits / their number / scale;
#    robust sandwich, normal reference ("gee_exchangeable", "gee_ar1"); and with the sites as
#    clusters (exchangeable within a site), the Mancl-DeRouen bias-reduced sandwich and a
#    t(K - 2) reference ("gee_cluster_md").
# 2. geepack::geeglm with its own estimators of the working correlation ("geepack_*"; also the
#    yes/no outcome with a logit link): they differ slightly from the moment estimators above,
#    so the report is checked against them with a looser tolerance.
suppressPackageStartupMessages(library(geepack))

d <- read.csv("repeated.csv")
d$visit <- factor(d$visit, levels = c("m6", "m12", "m18"))
d <- d[order(d$site, d$study_id, d$wave), ]
X <- model.matrix(~ 0 + visit + visit:treat, data = d)
p <- ncol(X)
effects <- 4:6
contrasts <- rbind(diag(p)[effects, ], colMeans(diag(p)[effects, ]))
labels <- c("m6", "m12", "m18", "overall")

gee <- function(groups, structure, bias_reduced = FALSE, tol = 1e-12) {
  ids <- split(seq_len(nrow(d)), groups)
  working <- function(i, alpha) {
    w <- d$wave[i]
    if (structure == "ar1") return(alpha^abs(outer(w, w, "-")))
    m <- matrix(alpha, length(w), length(w)); diag(m) <- 1; m
  }
  alpha <- 0
  beta <- rep(0, p)
  for (iteration in 1:200) {
    A <- 0; b <- 0
    for (i in ids) {
      Vi <- solve(working(i, alpha))
      Xi <- X[i, , drop = FALSE]
      A <- A + t(Xi) %*% Vi %*% Xi; b <- b + t(Xi) %*% Vi %*% d$y[i]
    }
    new <- drop(solve(A, b))
    r <- d$y - drop(X %*% new)
    scale <- sum(r^2) / (nrow(d) - p)
    products <- 0; pairs <- 0
    for (i in ids) {
      ri <- r[i]
      if (structure == "ar1") {
        adjacent <- abs(outer(d$wave[i], d$wave[i], "-")) == 1
        adjacent[lower.tri(adjacent, diag = TRUE)] <- FALSE
      } else {
        adjacent <- upper.tri(matrix(0, length(i), length(i)))
      }
      products <- products + sum(outer(ri, ri)[adjacent]); pairs <- pairs + sum(adjacent)
    }
    alpha <- if (structure == "ar1") products / pairs / scale else products / scale / (pairs - p)
    done <- max(abs(new - beta)) < tol
    beta <- new
    if (done) break
  }
  A <- 0
  for (i in ids) {
    Xi <- X[i, , drop = FALSE]
    A <- A + t(Xi) %*% solve(working(i, alpha)) %*% Xi
  }
  Ainv <- solve(A)
  M <- 0
  r <- d$y - drop(X %*% beta)
  for (i in ids) {
    Xi <- X[i, , drop = FALSE]
    Vi <- solve(working(i, alpha))
    ri <- r[i]
    if (bias_reduced) {
      H <- Xi %*% Ainv %*% t(Xi) %*% Vi
      ri <- solve(diag(length(i)) - H, ri)
    }
    u <- t(Xi) %*% Vi %*% ri
    M <- M + u %*% t(u)
  }
  list(beta = beta, V = Ainv %*% M %*% Ainv, alpha = alpha)
}

rows <- list()
emit <- function(model, beta, V, alpha, df = Inf, log_scale = FALSE) {
  for (k in seq_len(nrow(contrasts))) {
    est <- sum(contrasts[k, ] * beta)
    se <- sqrt(drop(t(contrasts[k, ]) %*% V %*% contrasts[k, ]))
    q <- if (is.finite(df)) qt(0.975, df) else qnorm(0.975)
    p_value <- if (is.finite(df)) 2 * pt(-abs(est / se), df) else 2 * pnorm(-abs(est / se))
    low <- est - q * se; high <- est + q * se
    if (log_scale) { est <- exp(est); low <- exp(low); high <- exp(high) }
    rows[[length(rows) + 1]] <<- data.frame(
      model = model, visit = labels[k], estimate = est, se = se, ci_low = low, ci_high = high,
      p_value = p_value, alpha = alpha, df = df
    )
  }
}

f <- gee(d$study_id, "exchangeable"); emit("gee_exchangeable", f$beta, f$V, f$alpha)
f <- gee(d$study_id, "ar1"); emit("gee_ar1", f$beta, f$V, f$alpha)
K <- length(unique(d$site))
f <- gee(d$site, "exchangeable", bias_reduced = TRUE)
emit("gee_cluster_md", f$beta, f$V, f$alpha, df = K - 2)

d <- d[order(d$study_id, d$wave), ]
d$id <- as.integer(factor(d$study_id))
for (structure in c("exchangeable", "ar1")) {
  fit <- geeglm(y ~ 0 + visit + visit:treat, id = id, waves = wave, data = d,
                corstr = structure)
  emit(paste0("geepack_", structure), coef(fit), vcov(fit), fit$geese$alpha[[1]])
  fit <- geeglm(y_bin ~ 0 + visit + visit:treat, id = id, waves = wave, data = d,
                family = binomial, corstr = structure)
  emit(paste0("geepack_binary_", structure), coef(fit), vcov(fit), fit$geese$alpha[[1]],
       log_scale = TRUE)
}
write.csv(format(do.call(rbind, rows), digits = 15), stdout(), row.names = FALSE, quote = FALSE)
