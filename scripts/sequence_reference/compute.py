"""Compute reference values for the sequence-analysis tests with sequenzo (TraMineR in Python).

Runs in its own virtual environment, never in the app's:

    python3 -m venv /tmp/seqref
    /tmp/seqref/bin/pip install -r scripts/sequence_reference/requirements.txt
    /tmp/seqref/bin/python scripts/sequence_reference/compute.py

Writes tests/reports/analysis/data/sequenzo_reference.npz (and mvad.npz, the 712 × 72 mvad
sequences with their weights, so that the tests need no sequenzo). See the README there.
State codes: the alphabet order given below, 0-based.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("KMP_DUPLICATE_LIB_OK", "TRUE")

import sequenzo
from sequenzo import SequenceData, get_distance_matrix, get_substitution_cost_matrix
from sequenzo.clustering.hierarchical_clustering import Cluster
from sequenzo.clustering.k_medoids import KMedoids
from sequenzo.clustering.validation.partition_quality import compute_partition_quality
from sequenzo.dissimilarity_measures.utils.get_sm_trate_substitution_cost_matrix import (
    get_sm_trate_substitution_cost_matrix,
)
from sequenzo.sequence_characteristics_indicators.turbulence import get_turbulence
from sequenzo.sequence_characteristics_indicators.within_sequence_entropy import (
    get_within_sequence_entropy,
)

OUT = Path(__file__).resolve().parents[2] / "tests" / "reports" / "analysis" / "data"
MVAD_STATES = ["employment", "FE", "HE", "joblessness", "school", "training"]
K_VALUES = [2, 3, 4, 5, 6]

# A small hand-made set (states A, B, C): equal length 10, with duplicates and a
# work-benefit-work "revolving door" pattern.
HAND_STATES = ["A", "B", "C"]
HAND = [
    "AAAABBBBCC",
    "AAAABBBBCC",
    "ABABABABAB",
    "CCCCCCCCCC",
    "AAABBBCCCA",
    "CCBBAAAAAA",
    "BBBBBBBBBA",
    "ACACACCCCC",
]


def quiet(function, *args, **kwargs):
    """Call a sequenzo function with its progress output sent to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        return function(*args, **kwargs)


def condensed(square: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(square.shape[0], k=1)
    return square[i, j]


def analyse(prefix: str, frame: pd.DataFrame, time: list[str], states: list[str], weights) -> dict:
    out: dict[str, np.ndarray] = {}
    seq = quiet(SequenceData, frame, time=time, states=states, id_col="id", weights=weights)
    codes = frame[time].replace({s: k for k, s in enumerate(states)}).to_numpy(dtype=np.int8)
    out[f"{prefix}_sequences"] = codes
    if weights is not None:
        out[f"{prefix}_weights"] = np.asarray(weights, dtype=np.float64)
    for weighted in (True, False):
        tr = quiet(get_sm_trate_substitution_cost_matrix, seq, weighted=weighted)
        out[f"{prefix}_trate_{'w' if weighted else 'u'}"] = np.asarray(tr)[1:, 1:]
    trate = quiet(get_substitution_cost_matrix, seq, "TRATE")
    out[f"{prefix}_sm_trate"] = np.asarray(trate["sm"])[1:, 1:]
    out[f"{prefix}_indel_trate"] = np.array(trate["indel"])
    om_trate = np.asarray(quiet(get_distance_matrix, seq, method="OM", sm="TRATE", indel="auto"))
    om_const = np.asarray(quiet(get_distance_matrix, seq, method="OM", sm="CONSTANT", indel=1))
    # OM/TRATE distances are real numbers: store them among distinct sequences only (the first
    # row of each), which keeps float64 (tests compare to 1e-9) and the file small.
    _, first = np.unique(codes, axis=0, return_index=True)
    first = np.sort(first)
    same = (codes[:, None, :] == codes[None, first, :]).all(axis=2).argmax(axis=1)
    if not np.array_equal(om_trate, om_trate[np.ix_(first[same], first[same])]):
        raise SystemExit("identical sequences got different OM distances")
    out[f"{prefix}_distinct_rows"] = first.astype(np.int16)
    out[f"{prefix}_om_trate"] = condensed(om_trate[np.ix_(first, first)])
    out[f"{prefix}_om_constant"] = condensed(om_const).astype(np.int16)
    for method in ("HAM", "LCS", "LCP"):
        d = np.asarray(quiet(get_distance_matrix, seq, method=method))
        out[f"{prefix}_{method.lower()}"] = condensed(d).astype(np.int16)
    out[f"{prefix}_entropy"] = quiet(get_within_sequence_entropy, seq)["Entropy"].to_numpy()
    out[f"{prefix}_turbulence"] = quiet(get_turbulence, seq)["Turbulence"].to_numpy()
    n = om_trate.shape[0]
    ids = np.arange(n)
    for variant in ("ward_d", "ward_d2"):
        tree = quiet(Cluster, om_trate, ids, clustering_method=variant)
        for k in K_VALUES:
            if k >= n:
                continue
            labels = quiet(tree.get_cluster_labels, k)
            out[f"{prefix}_{variant}_k{k}"] = np.asarray(labels, dtype=np.int16)
            quality = quiet(compute_partition_quality, om_trate, labels)
            out[f"{prefix}_{variant}_asw_k{k}"] = np.array(quality["ASW"])
    for k in K_VALUES:
        if k >= n:
            continue
        membership = np.asarray(quiet(KMedoids, om_trate, k, method="PAMonce"))
        out[f"{prefix}_pam_k{k}"] = membership.astype(np.int16)  # 1-based medoid row per item
        medoid = membership - 1
        out[f"{prefix}_pam_cost_k{k}"] = np.array(om_trate[np.arange(n), medoid].sum())
        quality = quiet(compute_partition_quality, om_trate, membership)
        out[f"{prefix}_pam_asw_k{k}"] = np.array(quality["ASW"])
    return out


def main() -> None:
    mvad = sequenzo.load_dataset("mvad")
    time = [
        c
        for c in mvad.columns
        if c[:3]
        in {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
    ]
    if len(time) != 72:
        raise SystemExit(f"expected 72 monthly columns in mvad, found {len(time)}")
    results = analyse("mvad", mvad, time, MVAD_STATES, mvad["weight"].to_numpy())
    hand = pd.DataFrame([list(s) for s in HAND], columns=[f"m{t:02d}" for t in range(1, 11)])
    hand.insert(0, "id", range(1, len(HAND) + 1))
    results.update(analyse("hand", hand, list(hand.columns[1:]), HAND_STATES, None))
    results["sequenzo_version"] = np.array(sequenzo.__version__)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "sequenzo_reference.npz", **results)
    size = (OUT / "sequenzo_reference.npz").stat().st_size
    sys.stdout.write(
        f"wrote {OUT / 'sequenzo_reference.npz'} ({size / 1e6:.2f} MB), "
        f"sequenzo {sequenzo.__version__}\n"
    )


if __name__ == "__main__":
    main()
