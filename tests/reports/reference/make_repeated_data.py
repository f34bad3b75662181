"""Write the repeated-measures data set that reference_repeated.R and
tests/reports/analysis/test_repeated_reference.py fit.

Run once from the repository root: ``python tests/reports/reference/make_repeated_data.py``
(seeded: it writes the same file again byte for byte).

repeated.csv: 240 participants at 12 sites (6 per arm) assessed at visits m6, m12 and m18
(about one in ten visits missing), a continuous outcome with a participant effect and a site
effect and an arm effect growing over visits, a yes/no outcome from the same latent scale,
and age.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def main() -> None:
    rng = np.random.default_rng(2026120602)
    rows = []
    site_effect = rng.normal(0, 0.5, 12)
    for site in range(12):
        treat = site % 2
        for j in range(20):
            person = rng.normal(0, 1.0)
            age = int(rng.integers(18, 30))
            previous = 0.0
            for wave, visit in enumerate(["m6", "m12", "m18"]):
                previous = 0.5 * previous + rng.normal(0, 0.8)
                latent = (
                    site_effect[site]
                    + person
                    + previous
                    + treat * 0.3 * (wave + 1)
                    - 0.03 * (age - 24)
                )
                if rng.random() < 0.1:
                    continue
                rows.append(
                    {
                        "study_id": f"Q{site:02d}{j:02d}",
                        "site": f"S{site:02d}",
                        "treat": treat,
                        "age": age,
                        "visit": visit,
                        "wave": wave + 1,
                        "y": round(10 + 2 * latent, 6),
                        "y_bin": int(latent + rng.logistic(0, 0.5) > 0.3),
                    }
                )
    pd.DataFrame(rows).to_csv(HERE / "repeated.csv", index=False)


if __name__ == "__main__":
    main()
