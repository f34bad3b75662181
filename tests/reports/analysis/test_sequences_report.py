"""The pathways report sections (reports/analysis/sequences_report.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.analysis import sequences as sq
from reports.analysis.sequences_report import sequence_sections


def test_sequence_sections_give_tables_figures_and_a_typology() -> None:
    rng = np.random.default_rng(4)
    seqs = np.repeat(rng.integers(0, 3, size=(60, 6)), 4, axis=1)  # 24 months, 4-month spells
    arms = pd.Series(["Control"] * 30 + ["IPS"] * 30)
    sections = sequence_sections(
        seqs,
        ["work", "benefit", "none"],
        {"work": "Work"},
        arms,
        3,
        seed=1,
        work_states=frozenset({0}),
        benefit_states=frozenset({1}),
    )
    pathways, types = sections
    assert [f.key for f in pathways.figures] == [
        "pathways_distribution",
        "pathways_index",
        "pathways_transitions_1",
        "pathways_transitions_2",
    ]
    assert all(f.svg.lstrip().startswith("<?xml") and "<svg" in f.svg for f in pathways.figures)
    mean_time = pathways.tables[0].frame.set_index(["arm", "state"])
    expected = (seqs[:30] == 0).sum(axis=1).mean()
    assert mean_time.loc[("Control", "Work"), "mean"] == expected
    by_arm = types.tables[2].frame
    assert by_arm[["Control", "IPS"]].to_numpy().sum() == 60
    assert by_arm.shape[0] == 3
    sm, indel = sq.substitution_costs(seqs, 3, "TRATE")
    result = sq.typology(seqs, 3, [3], sm=sm, indel=indel, seed=1)
    assert types.tables[0].frame["asw"].iloc[0] == result.asw[3]
