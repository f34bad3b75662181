"""A synthetic economic-evaluation data set of any size (bench and tests): participants in two
arms at sites, contacts with roles and partners, monthly states and a full rate table. Seeded."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

STATES = ("work", "education", "aap", "disability", "unemployment", "social_assistance")
ROLES = ("caseworker", "coordinator")
PARTNERS = ("participant", "employer", "health_service", "school", "other_nav", "family")


def synthetic(
    participants: int, contacts: int, months: int, *, seed: int = 1, sites: int = 20
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(participants, contacts, months, rates) frames as ``economics.costs.components`` takes."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01")
    ids = np.arange(1, participants + 1)
    control = rng.random(participants) < 0.5
    randomised = start + rng.integers(0, 365, participants).astype("timedelta64[D]")
    people = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": np.where(control, "B", "A"),
            "control": control,
            "site": np.array([f"S{k:02d}" for k in range(sites)])[
                rng.integers(0, sites, participants)
            ],
            "randomised_on": pd.to_datetime(randomised),
        }
    )
    people["cluster"] = people["site"]
    who = rng.integers(0, participants, contacts)
    on = randomised[who] + rng.integers(-10, months * 30, contacts).astype("timedelta64[D]")
    partner_sets = [[], ["participant"], ["participant", "employer"], ["health_service"]]
    contact_frame = pd.DataFrame(
        {
            "participant_id": ids[who],
            "contact_on": pd.to_datetime(on),
            "minutes": rng.integers(5, 120, contacts),
            "role": np.array(ROLES)[(rng.random(contacts) < 0.1).astype(int)],
            "partners": [partner_sets[k] for k in rng.integers(0, 4, contacts)],
            "contamination": control[who] & (rng.random(contacts) < 0.05),
        }
    )
    # States: runs of a few months, more work in the intervention arm.
    work_bias = np.where(control, 0.25, 0.35)
    draw = rng.random((participants, months))
    other = rng.integers(1, len(STATES), (participants, months))
    codes = np.where(draw < work_bias[:, None], 0, other)
    codes[rng.random((participants, months)) < 0.05] = -1  # no registered state
    names = np.array([*STATES, ""], dtype=object)
    month_frame = pd.DataFrame(
        {
            "participant_id": np.repeat(ids, months),
            "month": np.tile(np.arange(1, months + 1), participants),
            "state": names[codes.reshape(-1)],
        }
    )
    day = dt.date(2020, 1, 1)
    rates = [
        ("staff_minute", "caseworker", "", 12.5, 2024, day, None),
        ("staff_minute", "coordinator", "", 15.0, 2024, day, None),
        *[
            (
                "partner_minute",
                p,
                "",
                0.0 if p in ("participant", "family") else 9.0,
                2024,
                day,
                None,
            )
            for p in PARTNERS
        ],
        ("participant", "", "A", 2500.0, 2024, day, None),
        *[("site", f"S{k:02d}", "A", 150_000.0, 2024, day, None) for k in range(sites)],
        ("benefit", "work", "", 0.0, 2024, day, None),
        ("benefit", "education", "", 8000.0, 2024, day, None),
        ("benefit", "aap", "", 21000.0, 2024, day, None),
        ("benefit", "disability", "", 24000.0, 2024, day, None),
        ("benefit", "unemployment", "", 17000.0, 2024, day, None),
        ("benefit", "social_assistance", "", 9000.0, 2024, day, None),
    ]
    rate_frame = pd.DataFrame(
        rates, columns=["kind", "key", "arm", "amount", "price_year", "valid_from", "valid_to"]
    )
    return people, contact_frame, month_frame, rate_frame
