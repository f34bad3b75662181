"""Contamination beyond the contact log's own exposures: follow-up answers, site-level events,
staff who worked at an intervention site, which arm a unit is in, and the per-participant flag
for analyses."""
