"""The data set of the R reference (run once; the CSV is committed).

60 participants in 8 clusters (4 per arm, sizes 5 to 10), skewed costs (gamma) with a few
zeros, effects in months in work 0-24 correlated with cost. Seeded: rerunning gives the same
file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261206)
sizes = [5, 8, 10, 7, 6, 9, 7, 8]
rows = []
for k, size in enumerate(sizes):
    treated = int(k >= 4)
    level = rng.normal(0, 20000)
    for _ in range(size):
        cost = max(0.0, rng.gamma(2.0, 60000.0) + 25000 * treated + level)
        if rng.random() < 0.08:
            cost = 0.0
        effect = float(np.clip(np.round(rng.normal(8 + 2.5 * treated - cost / 80000, 5)), 0, 24))
        rows.append((f"c{k + 1:02d}", treated, round(cost, 2), effect))
frame = pd.DataFrame(rows, columns=["cluster", "treated", "cost", "effect"])
frame.to_csv(Path(__file__).with_name("data.csv"), index=False)
