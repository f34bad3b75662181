"""Fidelity scales: the shipped templates, versions, levels, bands and items, and the figures
of a set of scores (section subtotals, total, band)."""
