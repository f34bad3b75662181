# Reference numbers for economics/analysis.py, computed with R and the boot package.
#
# Run from this folder:  Rscript reference.R
# (R 4.2.2 and boot 1.3-28.1 from Debian bookworm; the outputs are committed.)
# Writes reference_r.csv (name,value), and the resamples boot drew, so that Python recomputes
# the same replicates: indices_people.csv (replicates x participants, 1-based row numbers,
# stratified by arm) and indices_clusters.csv (replicates x clusters, 1-based positions in the
# clusters sorted by label, stratified by arm).
#
# Point estimates: means by arm, delta cost = treated - control, ICER = delta cost / delta
# effect, NMB = wtp x delta effect - delta cost. Percentile intervals: quantile(type = 7).
# Acceptability: share of replicates with NMB > 0. Cluster replicates: ratio means, the sum of
# the drawn clusters' costs over the sum of their sizes, by arm.
suppressPackageStartupMessages(library(boot))

d <- read.csv("data.csv")
wtp <- c(0, 10000, 20000, 50000)
B <- 500
out <- list()
put <- function(name, value) out[[length(out) + 1]] <<- data.frame(name = name, value = value)

delta <- function(cost, effect, treated) {
  c(mean(cost[treated == 1]) - mean(cost[treated == 0]),
    mean(effect[treated == 1]) - mean(effect[treated == 0]))
}
summarise <- function(prefix, dc, de) {
  for (p in c(0.025, 0.975)) {
    put(sprintf("%s_cost_q%s", prefix, p), unname(quantile(dc, p, type = 7)))
    put(sprintf("%s_effect_q%s", prefix, p), unname(quantile(de, p, type = 7)))
  }
  for (w in wtp) {
    nmb <- w * de - dc
    put(sprintf("%s_nmb_%d_low", prefix, w), unname(quantile(nmb, 0.025, type = 7)))
    put(sprintf("%s_nmb_%d_high", prefix, w), unname(quantile(nmb, 0.975, type = 7)))
    put(sprintf("%s_ceac_%d", prefix, w), mean(nmb > 0))
  }
}

put("cost_control", mean(d$cost[d$treated == 0]))
put("cost_treated", mean(d$cost[d$treated == 1]))
put("effect_control", mean(d$effect[d$treated == 0]))
put("effect_treated", mean(d$effect[d$treated == 1]))
est <- delta(d$cost, d$effect, d$treated)
put("delta_cost", est[1])
put("delta_effect", est[2])
put("icer", est[1] / est[2])
for (w in wtp) put(sprintf("nmb_%d", w), w * est[2] - est[1])

# Participants, within arms.
set.seed(2026)
people <- boot(d, function(data, i) delta(data$cost[i], data$effect[i], data$treated[i]),
               R = B, strata = d$treated)
write.table(boot.array(people, indices = TRUE), "indices_people.csv", sep = ",",
            row.names = FALSE, col.names = FALSE)
summarise("people", people$t[, 1], people$t[, 2])

# Clusters, within arms (every cluster lies in one arm).
labels <- sort(unique(d$cluster), method = "radix")
k <- data.frame(cluster = labels)
k$treated <- sapply(labels, function(l) d$treated[d$cluster == l][1])
k$n <- sapply(labels, function(l) sum(d$cluster == l))
k$cost <- sapply(labels, function(l) sum(d$cost[d$cluster == l]))
k$effect <- sapply(labels, function(l) sum(d$effect[d$cluster == l]))
ratio <- function(data, i) {
  s <- data[i, ]
  t <- s$treated == 1
  c(sum(s$cost[t]) / sum(s$n[t]) - sum(s$cost[!t]) / sum(s$n[!t]),
    sum(s$effect[t]) / sum(s$n[t]) - sum(s$effect[!t]) / sum(s$n[!t]))
}
set.seed(2027)
clusters <- boot(k, ratio, R = B, strata = k$treated)
write.table(boot.array(clusters, indices = TRUE), "indices_clusters.csv", sep = ",",
            row.names = FALSE, col.names = FALSE)
summarise("clusters", clusters$t[, 1], clusters$t[, 2])

write.csv(do.call(rbind, out), "reference_r.csv", row.names = FALSE)
