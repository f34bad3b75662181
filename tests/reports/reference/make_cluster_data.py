"""Write the cluster-trial data sets that reference_cluster.R and
tests/reports/analysis/test_cluster_reference.py fit.

Run once from the repository root: ``python tests/reports/reference/make_cluster_data.py``.
The files are committed; this script only records how they were made (seeded, so it writes
them again byte for byte).

cluster.csv: a parallel cluster trial of 14 sites (7 per arm) of unequal size (12 to 45
participants), a site effect on every outcome, two-sided non-compliance (intervention
participants never reached, contaminated controls), a continuous and a binary outcome, and a
time to first work in whole months (so event times are tied) with censoring.

stepped_wedge.csv: 9 sites crossing over to the intervention in periods 1 to 3 of four, the
same kind of time to work, with a period effect.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def cluster(rng: np.random.Generator) -> pd.DataFrame:
    sites = 14
    sizes = rng.integers(12, 46, sites)
    site = np.repeat(np.arange(sites), sizes)
    n = len(site)
    treat = (site % 2 == 1).astype(int)
    site_effect = rng.normal(0, 0.6, sites)[site]
    age = rng.integers(18, 30, n)
    female = rng.integers(0, 2, n)
    contacted = rng.random(n) < 0.8
    exposed = rng.random(n) < 0.15
    received = np.where(treat == 1, contacted, exposed).astype(int)
    y = 10 + 2.0 * received + 0.2 * (age - 24) + site_effect * 3 + rng.normal(0, 4, n)
    latent = -0.6 + 0.7 * received + site_effect + 0.4 * female
    y_bin = (rng.random(n) < 1 / (1 + np.exp(-latent))).astype(int)
    rate = 0.06 * np.exp(0.45 * treat + site_effect - 0.02 * (age - 24))
    months = np.ceil(rng.exponential(1 / rate))
    censor = rng.integers(6, 25, n)
    return pd.DataFrame(
        {
            "site": [f"S{s:02d}" for s in site],
            "treat": treat,
            "age": age,
            "female": female,
            "exposed": exposed.astype(int),
            "received": received,
            "y": y.round(4),
            "y_bin": y_bin,
            "months": np.minimum(months, censor).astype(float),
            "event": (months <= censor).astype(int),
        }
    )


def stepped_wedge(rng: np.random.Generator) -> pd.DataFrame:
    sites, periods = 9, 4
    switch = 1 + np.arange(sites) % 3
    rows = []
    for s in range(sites):
        effect = rng.normal(0, 0.5)
        for period in range(periods):
            m = int(rng.integers(6, 15))
            treat = int(period >= switch[s])
            rate = 0.05 * np.exp(0.5 * treat + effect + 0.15 * period)
            months = np.ceil(rng.exponential(1 / rate, m))
            censor = rng.integers(6, 19, m)
            for t, c in zip(months, censor, strict=True):
                rows.append(
                    {
                        "site": f"W{s}",
                        "period": period,
                        "treat": treat,
                        "months": float(min(t, c)),
                        "event": int(t <= c),
                    }
                )
    return pd.DataFrame(rows)


def main() -> None:
    rng = np.random.default_rng(20260512)
    cluster(rng).to_csv(HERE / "cluster.csv", index=False)
    stepped_wedge(rng).to_csv(HERE / "stepped_wedge.csv", index=False)


if __name__ == "__main__":
    main()
