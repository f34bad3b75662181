"""Write the data sets the R reference (reference.R) and tests/reports/test_ordinal_count.py fit.

Run once from the repository root: ``python tests/reports/reference/make_data.py``. The files
are committed; this script only records how they were made (seeded, so it writes them again
byte for byte).
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def main() -> None:
    rng = np.random.default_rng(20240611)
    n = 240
    treat = np.repeat([0, 1], n // 2)
    age = rng.integers(18, 60, n)
    site = rng.choice(["a", "b", "c"], n)
    # Overdispersed counts (gamma-Poisson mixture, shape 1.5): rate ratio exp(0.35) = 1.42.
    mu = np.exp(0.8 + 0.35 * treat + 0.01 * (age - 40) + np.where(site == "b", 0.2, 0.0))
    counts = rng.poisson(rng.gamma(1.5, mu / 1.5))
    frame = pd.DataFrame({"treat": treat, "age": age, "site": site, "y": counts})
    frame.to_csv(HERE / "counts.csv", index=False)
    # Ordinal 1-5 from a latent logistic variable: common odds ratio exp(0.6) = 1.82.
    latent = 0.6 * treat + 0.02 * (age - 40) + np.where(site == "c", -0.4, 0.0)
    latent = latent + rng.logistic(size=n)
    codes = 1 + np.searchsorted([-1.5, -0.3, 0.7, 1.8], latent)
    frame = pd.DataFrame({"treat": treat, "age": age, "site": site, "y": codes})
    frame.to_csv(HERE / "ordinal.csv", index=False)


if __name__ == "__main__":
    main()
