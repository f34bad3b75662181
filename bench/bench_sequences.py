"""Optimal-matching distances and typologies (reports/analysis/sequences.py) beside sequenzo.

Data: 2,000 distinct random-walk sequences of 72 months over 6 states (seed 1). Figures: the
numba compile (or cache load) time, our OM matrix with TRATE costs and with constant costs
2 / indel 1, the same two with sequenzo on the same data when its reference environment exists
(``SEQUENZO_PYTHON``, default /tmp/seqref/bin/python; see scripts/sequence_reference/), the
largest difference between the two matrices, and a 10,000-participant typology end to end.
No Django, database or Redis is needed.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit

from reports.analysis import sequences as sq

BENCH = "sequences"
N_STATES = 6
MONTHS = 72

SEQUENZO_SCRIPT = r"""
import contextlib, json, os, sys, time
os.environ.setdefault("KMP_DUPLICATE_LIB_OK", "TRUE")
import numpy as np, pandas as pd
with contextlib.redirect_stdout(sys.stderr):
    from sequenzo import SequenceData, get_distance_matrix
data = np.load(sys.argv[1])["seqs"]
states = [f"s{k}" for k in range(6)]
frame = pd.DataFrame(np.array(states, dtype=object)[data], columns=[f"m{t:02d}" for t in range(72)])
frame.insert(0, "id", range(len(frame)))
out = {}
with contextlib.redirect_stdout(sys.stderr):
    seq = SequenceData(frame, time=list(frame.columns[1:]), states=states, id_col="id")
    for name, kwargs in (("trate", dict(sm="TRATE", indel="auto")),
                         ("constant", dict(sm="CONSTANT", indel=1))):
        started, cpu = time.perf_counter(), time.process_time()
        d = get_distance_matrix(seq, method="OM", **kwargs)
        out[name] = [time.perf_counter() - started, time.process_time() - cpu]
        np.save(sys.argv[1] + f".{name}.npy", np.asarray(d, dtype=np.float64))
print(json.dumps(out))
"""


def random_walks(n: int, stay: float, seed: int, distinct: bool) -> np.ndarray:
    """n sequences: a random first state, then each month stay or move to another state."""
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    have = 0
    while have < n:
        batch = np.empty((n, MONTHS), np.int64)
        batch[:, 0] = rng.integers(0, N_STATES, n)
        for t in range(1, MONTHS):
            move = rng.random(n) > stay
            step = rng.integers(1, N_STATES, n)
            batch[:, t] = np.where(move, (batch[:, t - 1] + step) % N_STATES, batch[:, t - 1])
        rows.append(batch)
        stacked = np.concatenate(rows)
        if distinct:
            _, first = np.unique(stacked, axis=0, return_index=True)
            stacked = stacked[np.sort(first)]
        have = len(stacked)
    return stacked[:n]


def timed(function, repeat: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU seconds (all threads) of ``repeat`` calls, and the result.

    CPU seconds are reported too because the wall clock of a 2-core machine shared with other
    work says more about the neighbours than about the code.
    """
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    seqs = random_walks(2000, stay=0.8, seed=1, distinct=True)
    sm, indel = sq.substitution_costs(seqs, N_STATES, "TRATE")

    started = time.perf_counter()
    tiny = seqs[:40]
    sq.distances(tiny, N_STATES, "OM", sm=sm, indel=indel)
    sq.distances(tiny, N_STATES, "OM")
    emit(
        BENCH,
        "numba compile or cache load",
        time.perf_counter() - started,
        "s",
        "first OM calls on 40 sequences (TRATE + constant kernels)",
    )

    trate_s, trate_cpu, ours_trate = timed(
        lambda: sq.distances(seqs, N_STATES, "OM", sm=sm, indel=indel), 3
    )
    emit(BENCH, "OM TRATE 2000x72", trate_s, "s", "median of 3; 1,999,000 pairs, 2 threads")
    emit(BENCH, "OM TRATE 2000x72 CPU", trate_cpu, "s", "CPU time of all threads")
    const_s, const_cpu, ours_const = timed(lambda: sq.distances(seqs, N_STATES, "OM"), 3)
    emit(BENCH, "OM constant 2/indel 1 2000x72", const_s, "s", "median of 3; bit-parallel LCS path")
    emit(BENCH, "OM constant 2/indel 1 2000x72 CPU", const_cpu, "s", "CPU time of all threads")

    # The reference environment of scripts/sequence_reference/ (only executed, never written).
    python = os.environ.get("SEQUENZO_PYTHON", "/tmp/seqref/bin/python")  # noqa: S108
    if Path(python).exists():
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "seqs.npz"
            np.savez(data, seqs=seqs)
            done = subprocess.run(
                [python, "-c", SEQUENZO_SCRIPT, str(data)],
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            )
            theirs_time = json.loads(done.stdout.strip().splitlines()[-1])
            upper = np.triu_indices(len(seqs), k=1)
            for name, ours, ours_s, ours_cpu in (
                ("TRATE", ours_trate, trate_s, trate_cpu),
                ("constant", ours_const, const_s, const_cpu),
            ):
                theirs = np.load(f"{data}.{name.lower()}.npy")[upper]
                seconds, cpu = theirs_time[name.lower()]
                emit(BENCH, f"sequenzo OM {name} 2000x72", seconds, "s", "same data, one run")
                emit(BENCH, f"sequenzo OM {name} 2000x72 CPU", cpu, "s", "CPU time, all threads")
                emit(BENCH, f"speed-up vs sequenzo ({name}, wall)", seconds / ours_s, "x")
                emit(BENCH, f"speed-up vs sequenzo ({name}, CPU)", cpu / ours_cpu, "x")
                emit(
                    BENCH,
                    f"max |ours - sequenzo| ({name})",
                    float(np.abs(ours - theirs).max()),
                    "",
                    "must be < 1e-9",
                )
    else:
        emit(BENCH, "sequenzo", "not run", "", f"no reference environment at {python}")

    participants = random_walks(10_000, stay=0.9, seed=2, distinct=False)
    rates_sm, rates_indel = sq.substitution_costs(participants, N_STATES, "TRATE")
    started = time.perf_counter()
    result = sq.typology(
        participants, N_STATES, [3, 4, 5, 6], sm=rates_sm, indel=rates_indel, seed=1
    )
    emit(
        BENCH,
        "typology 10,000 participants k=3..6",
        time.perf_counter() - started,
        "s",
        f"{result.n_distinct} distinct; {'CLARA' if result.sampled else 'full PAM'}; "
        f"ASW k=4 {result.asw[4]:.3f}",
    )
    emit(
        BENCH,
        "peak memory (whole script)",
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "MB",
    )


if __name__ == "__main__":
    main()
