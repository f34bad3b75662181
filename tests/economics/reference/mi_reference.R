# Multiple imputation reference for economics/imputation.py (run once; outputs are committed):
#   Rscript mi_reference.R    (R 4.2.2, mice 3.15.0)
# data.csv with some costs and effects removed by a fixed rule (mi_data.csv), imputed by arm with
# mice's predictive mean matching (each arm on its own: cost from effect, effect from cost),
# M imputations; in each completed data set the differences in mean cost and effect and their
# variances (var_t / n_t + var_c / n_c); pooled by Rubin's rules. Many imputations so that the
# Monte Carlo error of the pooled figures is small next to the comparison's tolerance.
suppressMessages(library(mice))
M <- 500
data <- read.csv("data.csv")
row <- seq_len(nrow(data))
data$cost[row %% 6 == 0] <- NA
data$effect[row %% 9 == 4] <- NA
write.csv(data, "mi_data.csv", row.names = FALSE, na = "")
completed <- list()
for (arm in c(0, 1)) {
  part <- data[data$treated == arm, c("cost", "effect")]
  imp <- mice(part, m = M, method = "pmm", maxit = 10, seed = 20261206 + arm, printFlag = FALSE)
  completed[[arm + 1]] <- imp
}
est <- matrix(NA, M, 4, dimnames = list(NULL, c("d_cost", "v_cost", "d_effect", "v_effect")))
for (m in seq_len(M)) {
  c0 <- complete(completed[[1]], m)
  c1 <- complete(completed[[2]], m)
  est[m, "d_cost"] <- mean(c1$cost) - mean(c0$cost)
  est[m, "v_cost"] <- var(c1$cost) / nrow(c1) + var(c0$cost) / nrow(c0)
  est[m, "d_effect"] <- mean(c1$effect) - mean(c0$effect)
  est[m, "v_effect"] <- var(c1$effect) / nrow(c1) + var(c0$effect) / nrow(c0)
}
pool1 <- function(q, u) {
  b <- var(q)
  c(estimate = mean(q), within = mean(u), between = b, total = mean(u) + (1 + 1 / M) * b)
}
out <- rbind(
  cost = pool1(est[, "d_cost"], est[, "v_cost"]),
  effect = pool1(est[, "d_effect"], est[, "v_effect"])
)
write.csv(data.frame(quantity = rownames(out), out, imputations = M), "mi_reference_r.csv",
  row.names = FALSE)
print(out, digits = 10)
