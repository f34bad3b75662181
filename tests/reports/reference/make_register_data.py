"""Write the register data set that reference_register.R and
tests/reports/analysis/test_register_reference.py use.

Run once from the repository root: ``python tests/reports/reference/make_register_data.py``.
The files are committed; this script only records how they were made (seeded, so it writes
them again byte for byte).

register_people.csv: 240 participants at 12 sites (6 per arm, cluster-randomised; the same
file serves an individually randomised analysis that ignores the sites), randomised on days
from 2023-01-02 to 2023-12-20, with age and sex.
register_spells.csv: their work spells (start, end or empty for open) from a monthly model in
which the intervention arm enters work more often and a site effect shifts everyone at a site;
some people are in work at randomisation, some spells end and start again, and some start
after the cut-off (2025-03-31), which the endpoints must leave out.
"""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def main() -> None:
    rng = np.random.default_rng(20261206)
    sites = 12
    size = 20
    people = []
    spells = []
    site_effect = rng.normal(0, 0.5, sites)
    for site in range(sites):
        treat = site % 2
        for j in range(size):
            pid = f"P{site:02d}{j:02d}"
            randomised = dt.date(2023, 1, 2) + dt.timedelta(days=int(rng.integers(0, 352)))
            age = int(rng.integers(18, 30))
            female = int(rng.integers(0, 2))
            people.append(
                {
                    "study_id": pid,
                    "site": f"S{site:02d}",
                    "treat": treat,
                    "age": age,
                    "female": female,
                    "randomised_on": randomised.isoformat(),
                }
            )
            rate = 0.05 * np.exp(0.6 * treat + site_effect[site] - 0.03 * (age - 24))
            day = randomised - dt.timedelta(days=int(rng.integers(10, 200)))
            working = rng.random() < 0.08  # in work at randomisation
            while day < dt.date(2025, 12, 31):
                if working:
                    length = int(rng.exponential(200)) + 5
                    end = day + dt.timedelta(days=length)
                    spells.append(
                        {
                            "study_id": pid,
                            "starts_on": day.isoformat(),
                            "ends_on": "" if rng.random() < 0.3 else end.isoformat(),
                        }
                    )
                    if spells[-1]["ends_on"] == "":
                        break
                    day = end + dt.timedelta(days=1)
                    working = False
                else:
                    wait = int(rng.exponential(30 / rate)) + 1
                    day = max(day, randomised) + dt.timedelta(days=wait)
                    working = True
    pd.DataFrame(people).to_csv(HERE / "register_people.csv", index=False)
    pd.DataFrame(spells).to_csv(HERE / "register_spells.csv", index=False)


if __name__ == "__main__":
    main()
