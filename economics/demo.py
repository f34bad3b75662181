"""Illustrative unit costs for the demo trial (not official prices): staff and partner minutes,
a fixed cost per IPS participant and per IPS team, and monthly benefit rates for the standard
register states, in 2024 prices converted to 2025 with an illustrative index."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from economics import services
from economics.models import UnitCost
from fidelity.models import Contact
from trial.models import Trial

FROM = dt.date(2020, 1, 1)
NOTE = "Illustrative demo figure, not an official price"
PARTNER_MINUTE = {"participant": 0, "family": 0, "employer": 10, "health_service": 14}
PARTNER_MINUTE_DEFAULT = 11
BENEFIT_MONTH = {"work": 0, "education": 0, "aap": 21500, "disability": 24500, "health": 0}


def seed_unit_costs(trial: Trial, actor: Any) -> None:
    """Settings (2025 prices, 12 months: most demo participants have been followed that long;
    4 %) and one open-ended row per key."""
    services.update_settings(
        trial,
        actor=actor,
        price_year=2025,
        price_index={"2024": 133.6, "2025": 137.5},
        horizon_months=12,
        discount_rate=Decimal("0.04"),
        work_states="work",
        wtp_max=400_000,
        replicates=1000,
    )
    rows: list[dict[str, Any]] = [
        {"kind": UnitCost.Kind.STAFF_MINUTE, "key": "caseworker", "amount": 12},
        {"kind": UnitCost.Kind.STAFF_MINUTE, "key": "coordinator", "amount": 15},
    ]
    for partner in Contact.Partner.values:
        amount = PARTNER_MINUTE.get(partner, PARTNER_MINUTE_DEFAULT)
        rows.append({"kind": UnitCost.Kind.PARTNER_MINUTE, "key": partner, "amount": amount})
    ips = trial.arms.filter(is_control=False).order_by("code").first()
    rows.append({"kind": UnitCost.Kind.PARTICIPANT, "key": "", "arm": ips, "amount": 3000})
    for site in trial.sites.order_by("code"):
        rows.append({"kind": UnitCost.Kind.SITE, "key": site.code, "arm": ips, "amount": 120000})
    for state in trial.spell_states.all():
        amount = BENEFIT_MONTH.get(state.code, 0)
        rows.append({"kind": UnitCost.Kind.BENEFIT, "key": state.code, "amount": amount})
    for row in rows:
        services.save_unit_cost(
            trial,
            actor=actor,
            arm=row.get("arm"),
            price_year=2024,
            valid_from=FROM,
            valid_to=None,
            note=NOTE,
            **{k: v for k, v in row.items() if k != "arm"},
        )
