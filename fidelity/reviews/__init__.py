"""Fidelity reviews: planning, the reviewers' independent scores, the consensus, finalising,
the agreement between reviewers and the sites' trends."""
