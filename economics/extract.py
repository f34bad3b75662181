"""Read one trial's economic-evaluation data into frames (one query per table) and run the
plan-time checks. The rules are in ``economics.costs`` and ``economics.analysis``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from economics import costs, plans
from economics.models import EconomicSettings, PlanUnitCosts, UnitCost
from economics.services import settings_for
from fidelity.models import Contact, Exposure
from randomisation.models import Allocation
from trial.models import Membership, Trial


@dataclass
class EconomicData:
    participants: (
        pd.DataFrame
    )  # participant_id, study_id, arm, control, site, cluster, randomised_on
    contacts: pd.DataFrame
    months: pd.DataFrame
    rates: pd.DataFrame
    settings: costs.CostSettings
    employer_contacts: int  # contacts about no single participant: not in per-person costs
    economic_settings: EconomicSettings | None = None  # the settings in force (maybe frozen)


def cost_settings(current: EconomicSettings) -> costs.CostSettings:
    return costs.CostSettings(
        horizon_months=current.horizon_months,
        discount_rate=float(current.discount_rate),
        price_year=current.price_year,
        price_index={int(year): float(value) for year, value in current.price_index.items()},
        work_states=tuple(current.work_state_codes()),
    )


def rates_frame(trial: Trial) -> pd.DataFrame:
    rows = UnitCost.objects.filter(trial=trial).values_list(
        "kind", "key", "arm__code", "amount", "price_year", "valid_from", "valid_to"
    )
    frame = pd.DataFrame.from_records(
        list(rows),
        columns=["kind", "key", "arm", "amount", "price_year", "valid_from", "valid_to"],
    )
    frame["arm"] = frame["arm"].fillna("")
    frame["amount"] = frame["amount"].astype(float)
    return frame


def frozen_settings(frozen: PlanUnitCosts) -> EconomicSettings:
    """The settings frozen with a plan, as an (unsaved) settings object."""
    values = dict(frozen.settings)
    values["discount_rate"] = Decimal(str(values.get("discount_rate", "0")))
    return EconomicSettings(trial_id=frozen.plan.trial_id, **values)


def economic_data(
    trial: Trial, *, today: dt.date | None = None, frozen: PlanUnitCosts | None = None
) -> EconomicData:
    """Participants allocated by ``today``, their contacts up to it (with the logging member's
    role and whether the contact delivered an intervention-specific component to a control
    participant), their monthly states over the horizon (months after the register cut-off or
    ``today`` are not observed), and the unit costs: those ``frozen`` with the analysis plan,
    else the live table, and the settings likewise."""
    until = today or dt.date.max
    from pathways import services as pathway_services

    current = frozen_settings(frozen) if frozen is not None else settings_for(trial)
    people = pd.DataFrame.from_records(
        list(
            Allocation.objects.filter(
                trial=trial, participant__isnull=False, allocated_on__lte=until
            ).values_list(
                "participant_id",
                "participant__study_id",
                "arm__code",
                "arm__is_control",
                "participant__site__code",
                "allocated_on",
            )
        ),
        columns=["participant_id", "study_id", "arm", "control", "site", "randomised_on"],
    )
    if trial.design == Trial.Design.CLUSTER:
        people["cluster"] = people["site"]
    roles = dict(Membership.objects.filter(trial=trial).values_list("user_id", "role"))
    contamination = set(
        Exposure.objects.filter(
            trial=trial, source=Exposure.Source.CONTACT, contact__isnull=False
        ).values_list("contact_id", flat=True)
    )
    rows = list(
        Contact.objects.filter(
            trial=trial, participant__isnull=False, contact_on__lte=until
        ).values_list("id", "participant_id", "contact_on", "minutes", "author_id", "partners")
    )
    contacts = pd.DataFrame.from_records(
        rows, columns=["id", "participant_id", "contact_on", "minutes", "author_id", "partners"]
    )
    contacts["role"] = contacts["author_id"].map(roles).fillna("")
    contacts["contamination"] = contacts["id"].isin(contamination)
    table = pathway_services.sequence_table(trial, today=today)
    horizon = min(current.horizon_months, table.months)
    codes = np.array([*table.codes, ""], dtype=object)
    values = table.values[:, :horizon].astype(np.int64)
    states = codes[np.clip(values, 0, len(codes) - 1)]
    states[values < 0] = None  # not observed (after the register cut-off)
    months = pd.DataFrame(
        {
            "participant_id": np.repeat(table.participant_ids, horizon),
            "month": np.tile(np.arange(1, horizon + 1), len(table.participant_ids)),
            "state": states.reshape(-1),
        }
    )
    settings = cost_settings(current)
    return EconomicData(
        people,
        contacts[["participant_id", "contact_on", "minutes", "role", "partners", "contamination"]],
        months,
        plans.rows_frame(frozen.rows) if frozen is not None else rates_frame(trial),
        settings,
        Contact.objects.filter(trial=trial, participant__isnull=True).count(),
        current,
    )


def plan_checks(trial: Trial, *, today: dt.date | None = None) -> list[costs.LeftOut]:
    """What the evaluation would leave out with today's data and unit costs: roles, partners and
    states without a rate on the day, rates without a price index, site costs nobody bears."""
    data = economic_data(trial, today=today)
    parts = costs.components(
        data.participants, data.contacts, data.months, data.rates, data.settings
    )
    known = set(data.rates["key"][data.rates["kind"] == "benefit"])
    states = set(data.months["state"].dropna()) - {""}
    extra = [
        costs.LeftOut("no_rate", "benefit", code, 0)
        for code in sorted(states - known)
        if not any(x.kind == "benefit" and x.key == code for x in parts.left_out)
    ]
    return [x for x in parts.left_out if x.reason != "not_observed"] + extra
