"""Cluster designs: randomising sites (stratified, pair-matched, covariate-constrained,
stepped wedge)."""
