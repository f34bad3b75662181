"""Sequence analysis of monthly state sequences (pathways): descriptives, distances, typologies.

Input everywhere: ``sequences``, an integer array n × T of state codes 0..S−1 (S = the size of
the alphabet), one row per participant and one column per month; a negative code marks a void
month after the end of observation (right censoring), so sequences may differ in length.
Missing months inside a sequence are not allowed: the pathway builder codes gaps as a state.

The definitions follow TraMineR (Gabadinho et al. 2011, J Stat Softw 40(4)) and are checked
against the Python package sequenzo, which mirrors it (tests/reports/analysis/data/README.md):
``transition_rates`` = seqtrate, ``substitution_costs`` = seqsubm/seqcost (TRATE, CONSTANT),
``om_distances`` = seqdist(method="OM"), ``within_entropy`` = seqient, ``turbulence`` = seqST
(type 1), ``ward`` = hclust/fastcluster ``ward.D`` (default) or ``ward.D2`` with members,
``pam`` = WeightedCluster wcKMedoids (PAM), ``asw`` = WeightedCluster's weighted ASW.

Identical sequences are computed once: :func:`unique_sequences` gives the distinct rows, their
counts and each participant's row; clustering works on distinct rows weighted by counts, which
gives the same Ward hierarchy, PAM objective and silhouettes as the expanded data. Above
``CLARA_THRESHOLD`` distinct sequences :func:`typology` switches to CLARA-style sampling, so
memory stays O(sample²) and the full distance matrix is never built.


The package: :mod:`.states` (descriptives), :mod:`.distances` (optimal matching and the
other distances) and :mod:`.clusters` (typologies); every name is importable from here.
"""

from __future__ import annotations

from reports.analysis.sequences.clusters import (
    CLARA_THRESHOLD,
    ClusterMethod,
    PamResult,
    Typology,
    build_medoids,
    cut,
    medoids,
    pam,
    silhouette,
    type_distribution,
    typology,
    ward,
)
from reports.analysis.sequences.distances import (
    DistanceMethod,
    _checked_costs,
    cross_distances,
    distances,
    expand,
)
from reports.analysis.sequences.states import (
    CostMethod,
    as_sequences,
    cross_sectional_entropy,
    mean_time_in_state,
    sequence_indicators,
    spells,
    state_distribution,
    substitution_costs,
    transition_counts,
    transition_rates,
    turbulence,
    unique_sequences,
    within_entropy,
)

__all__ = [
    "CLARA_THRESHOLD",
    "ClusterMethod",
    "CostMethod",
    "DistanceMethod",
    "PamResult",
    "Typology",
    "_checked_costs",
    "as_sequences",
    "build_medoids",
    "cross_distances",
    "cross_sectional_entropy",
    "cut",
    "distances",
    "expand",
    "mean_time_in_state",
    "medoids",
    "pam",
    "sequence_indicators",
    "silhouette",
    "spells",
    "state_distribution",
    "substitution_costs",
    "transition_counts",
    "transition_rates",
    "turbulence",
    "type_distribution",
    "typology",
    "unique_sequences",
    "ward",
    "within_entropy",
]
