"""Costs and effects per participant from plain data frames (no ORM): the rules of the economic
evaluation, testable against hand-computed examples.

**Time.** Month 1 is the calendar month of the participant's randomisation (from that day on),
month *k* the (k-1)th calendar month after it, as in ``pathways.sequences``. The time horizon is
the first ``horizon_months`` months. Year *y* (0-based) holds months ``12y+1`` to ``12y+12``;
amounts in year *y* are discounted by ``(1 + rate) ** -y``: nothing in the first 12 months.

**Prices.** Each unit cost carries its price year; it is converted to the settings' price year
by ``index[price_year] / index[row year]``. A row whose year has no index (when it differs from
the price year) is left out and listed.

**Delivery costs.** A contact's minutes × the staff-minute rate of the logging staff member's
role on the contact day, plus, for each partner who took part, minutes × that partner's rate.
Contacts with participants in an intervention arm are *delivery*; with control participants,
*usual* contacts, or *contamination* when they delivered an intervention-specific component.
Contacts before randomisation or after the horizon are outside the evaluation.

**Fixed costs.** A cost per participant applies to each participant of its arm (every arm when
empty) randomised in its validity period; a cost per site is shared equally by the site's
participants of its arm randomised in the period. Both fall in year 0.

**Benefits.** Each month's register state × the benefit rate of the state valid on the month's
first day (month 1: the randomisation day). A month with no registered state costs nothing; a
month not observed makes the participant's benefit costs incomplete.

**Earnings** (not a cost): each month's register state × the monthly earnings of the state
valid on the month's first day; a state without an earnings row earns nothing. Kept in their
own column, discounted like costs.

**Never silently zero.** A role, partner or state without a rate on the day is *left out*: it is
listed (with how many contacts, minutes or months), and the participants concerned are marked
incomplete, so a complete-case analysis drops them rather than counting the gap as zero. Enter
a rate of 0 for what costs nothing (e.g. the participant's own time, months in work).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

KINDS = ("staff_minute", "partner_minute", "site", "participant", "benefit", "earnings")
CATEGORIES = ("delivery", "usual", "contamination")
# Components of a participant's costs, and the unit-cost kind that prices each.
COMPONENTS: dict[str, str] = {
    **{f"{c}_staff": "staff_minute" for c in CATEGORIES},
    **{f"{c}_partner": "partner_minute" for c in CATEGORIES},
    "fixed_site": "site",
    "fixed_participant": "participant",
    "benefit": "benefit",
}
OPEN_END = int(np.datetime64("9999-12-31", "D").astype(np.int64))  # days since 1970


@dataclass(frozen=True)
class CostSettings:
    horizon_months: int = 24
    discount_rate: float = 0.04
    price_year: int = 2025
    price_index: Mapping[int, float] = field(default_factory=dict)
    work_states: tuple[str, ...] = ("work",)


@dataclass(frozen=True)
class LeftOut:
    """Something that could not be priced. ``reason``: ``no_rate`` (a role, partner or state
    with no rate on the day), ``no_price_index`` (a rate's price year has no index),
    ``no_participants`` (a site cost with nobody to bear it), ``not_observed`` (months after the
    register cut-off), ``no_role`` (contacts logged by someone no longer a member)."""

    reason: str
    kind: str
    key: str
    count: int
    quantity: float = 0.0  # minutes, months or the amount, by kind
    participants: int = 0


@dataclass
class Components:
    """Undiscounted amounts by participant, component and year, effects by year, and what was
    left out. :func:`per_participant` combines them for a discount rate and unit-cost scaling."""

    participants: pd.DataFrame  # participant_id, arm, control, site, cluster?, complete
    amounts: pd.DataFrame  # participant_id, component, year, amount
    effects: pd.DataFrame  # participant_id, year, months_in_work
    left_out: list[LeftOut]
    earnings: pd.DataFrame = field(  # participant_id, year, earnings (not a cost)
        default_factory=lambda: pd.DataFrame(columns=["participant_id", "year", "earnings"])
    )


Days = npt.NDArray[np.int64]  # days since 1970-01-01: plain integers in frames


def _days(values: pd.Series) -> Days:
    """Dates as day numbers; empty (None, NaT) as OPEN_END."""
    stamps = pd.to_datetime(pd.Series(values).reset_index(drop=True))
    out = stamps.to_numpy().astype("datetime64[D]").astype(np.int64)
    out[stamps.isna().to_numpy()] = OPEN_END
    return out


def _calendar_month(day: Days) -> Days:
    return day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _month_index(day: Days, anchor: Days) -> Days:
    """Month number (1 = the anchor's calendar month) of each day."""
    return _calendar_month(day) - _calendar_month(anchor) + 1


def prepare_rates(
    rates: pd.DataFrame, settings: CostSettings
) -> tuple[pd.DataFrame, list[LeftOut]]:
    """The rates in the settings' price year, with day columns; rows that cannot be converted
    are dropped and listed."""
    frame = rates.copy()
    frame["arm"] = frame.get("arm", pd.Series("", index=frame.index)).fillna("").astype(str)
    frame["key"] = frame["key"].fillna("").astype(str)
    target = settings.price_index.get(settings.price_year)
    years = frame["price_year"].astype(int)
    index = years.map(lambda y: settings.price_index.get(int(y)))
    same = years == settings.price_year
    convertible = same | (index.notna() & (target is not None))
    factor = np.where(same, 1.0, (target or np.nan) / index.astype(float).to_numpy())
    frame["value"] = frame["amount"].astype(float).to_numpy() * factor
    left_out = [
        LeftOut("no_price_index", str(row.kind), str(row.key), 1, float(row.price_year))
        for row in frame[~convertible].itertuples()
    ]
    frame = frame[convertible].copy()
    frame["start"] = _days(frame["valid_from"])
    frame["end"] = _days(frame["valid_to"])
    return frame[["kind", "key", "arm", "value", "start", "end"]].reset_index(drop=True), left_out


def lookup(rates: pd.DataFrame, kind: str, keys: pd.Series, days: Days) -> npt.NDArray[np.float64]:
    """The rate of ``kind`` for each (key, day); NaN where none is valid. Rows of one kind and
    key never overlap, so at most one matches."""
    table = rates[rates["kind"] == kind]
    out = np.full(len(keys), np.nan)
    if table.empty or len(keys) == 0:
        return out
    events = pd.DataFrame({"key": keys.to_numpy(), "day": days, "pos": np.arange(len(keys))})
    merged = events.merge(table[["key", "value", "start", "end"]], on="key", how="inner")
    hit = (merged["day"] >= merged["start"]) & (merged["day"] <= merged["end"])
    merged = merged[hit]
    out[merged["pos"].to_numpy()] = merged["value"].to_numpy()
    return out


def _missing(kind: str, keys: pd.Series, quantity: pd.Series, pids: pd.Series) -> list[LeftOut]:
    frame = pd.DataFrame({"key": keys.to_numpy(), "q": quantity.to_numpy(), "p": pids.to_numpy()})
    grouped = frame.groupby("key", sort=True).agg(
        count=("q", "size"), quantity=("q", "sum"), participants=("p", "nunique")
    )
    return [
        LeftOut(
            "no_rate", kind, str(key), int(r["count"]), float(r["quantity"]), int(r["participants"])
        )
        for key, r in grouped.iterrows()
    ]


@dataclass
class _Pricing:
    """What the pricing steps share: the prepared rates, what was left out, the participants
    whose costs are incomplete and those not observed over the whole horizon."""

    rates: pd.DataFrame
    left_out: list[LeftOut]
    incomplete: set[int] = field(default_factory=set)
    unobserved: set[int] = field(default_factory=set)


def components(
    participants: pd.DataFrame,
    contacts: pd.DataFrame,
    months: pd.DataFrame,
    rates: pd.DataFrame,
    settings: CostSettings,
) -> Components:
    """Price every contact, fixed cost and benefit month of the evaluation.

    ``participants``: participant_id, arm, control (bool), site, randomised_on.
    ``contacts``: participant_id, contact_on, minutes, role ("" when unknown), partners (a
    sequence of partner codes), contamination (bool).
    ``months``: participant_id, month (1…), state (code; "" a gap; None not observed); the
    month's first day is computed from the randomisation day.
    ``rates``: kind, key, arm ("" every arm), amount, price_year, valid_from, valid_to (empty
    open).

    The participants frame returned has ``cost_complete`` (nothing left out), ``effect_complete``
    (every month observed) and ``complete`` (both).
    """
    people = participants.reset_index(drop=True).copy()
    people["anchor"] = _days(people["randomised_on"])
    prepared, left_out = prepare_rates(rates, settings)
    state = _Pricing(prepared, left_out)
    parts = _contact_parts(people, contacts, settings.horizon_months, state)
    parts += _fixed_parts(people, state)
    benefit, earnings, effects = _month_parts(people, months, settings, state)
    parts.append(benefit)
    amounts = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=["participant_id", "component", "year", "amount"])
    )
    amounts = amounts.groupby(["participant_id", "component", "year"], as_index=False)[
        "amount"
    ].sum()
    people["cost_complete"] = ~people["participant_id"].isin(state.incomplete)
    people["effect_complete"] = ~people["participant_id"].isin(state.unobserved)
    people["complete"] = people["cost_complete"] & people["effect_complete"]
    columns = [
        col
        for col in (
            "participant_id",
            "arm",
            "control",
            "site",
            "cluster",
            "complete",
            "cost_complete",
            "effect_complete",
        )
        if col in people
    ]
    return Components(people[columns], amounts, effects, state.left_out, earnings)


def _contact_parts(
    people: pd.DataFrame, contacts: pd.DataFrame, horizon: int, state: _Pricing
) -> list[pd.DataFrame]:
    """Staff and partner time of the contacts inside the horizon, by category."""
    anchor_of = pd.Series(people["anchor"].to_numpy(), index=people["participant_id"])
    control_of = pd.Series(
        people["control"].astype(bool).to_numpy(), index=people["participant_id"]
    )
    c = contacts[contacts["participant_id"].isin(people["participant_id"])].reset_index(drop=True)
    day = _days(c["contact_on"])
    anchor = anchor_of.reindex(c["participant_id"]).to_numpy(dtype=np.int64)
    month = _month_index(day, anchor)
    keep = (day >= anchor) & (month <= horizon)
    c, day, month = c[keep].reset_index(drop=True), day[keep], month[keep]
    year = (month - 1) // 12
    control = control_of.reindex(c["participant_id"]).to_numpy()
    contamination = c["contamination"].astype(bool).to_numpy()
    category = np.where(~control, "delivery", np.where(contamination, "contamination", "usual"))
    minutes = c["minutes"].astype(float)
    roles = c["role"].fillna("").astype(str)
    staff = lookup(state.rates, "staff_minute", roles, day)
    unknown_role = (roles == "").to_numpy()
    missing = np.isnan(staff)
    if unknown_role.any():
        state.left_out.append(
            LeftOut(
                "no_role",
                "staff_minute",
                "",
                int(unknown_role.sum()),
                float(minutes[unknown_role].sum()),
                int(c["participant_id"][unknown_role].nunique()),
            )
        )
    rated = missing & ~unknown_role
    state.left_out += _missing(
        "staff_minute", roles[rated], minutes[rated], c["participant_id"][rated]
    )
    state.incomplete.update(c["participant_id"][missing].tolist())
    staff_part = pd.DataFrame(
        {
            "participant_id": c["participant_id"].to_numpy(),
            "component": np.char.add(category.astype(str), "_staff"),
            "year": year,
            "amount": np.where(missing, 0.0, staff * minutes.to_numpy()),
        }
    )
    # Partners: one row per partner who took part.
    exploded = pd.DataFrame(
        {"row": np.arange(len(c)), "partner": c["partners"].to_numpy()}
    ).explode("partner")
    exploded = exploded[exploded["partner"].notna() & (exploded["partner"] != "")]
    rows = exploded["row"].to_numpy(dtype=np.int64)
    partner_keys = exploded["partner"].astype(str).reset_index(drop=True)
    partner = lookup(state.rates, "partner_minute", partner_keys, day[rows])
    missing_p = np.isnan(partner)
    pids = c["participant_id"].to_numpy()[rows]
    state.left_out += _missing(
        "partner_minute",
        partner_keys[missing_p],
        pd.Series(minutes.to_numpy()[rows][missing_p]),
        pd.Series(pids[missing_p]),
    )
    state.incomplete.update(pids[missing_p].tolist())
    partner_part = pd.DataFrame(
        {
            "participant_id": pids,
            "component": [f"{cat}_partner" for cat in category[rows]],
            "year": year[rows],
            "amount": np.where(missing_p, 0.0, partner * minutes.to_numpy()[rows]),
        }
    )
    return [staff_part, partner_part]


def _fixed_parts(people: pd.DataFrame, state: _Pricing) -> list[pd.DataFrame]:
    """Fixed costs per participant and per site (shared), in year 0."""
    parts = []
    arms = people["arm"].astype(str).to_numpy()
    anchors = people["anchor"].to_numpy()
    prepared = state.rates
    for row in prepared[prepared["kind"] == "participant"].itertuples():
        hit = (anchors >= row.start) & (anchors <= row.end)
        if row.arm:
            hit &= arms == row.arm
        parts.append(
            pd.DataFrame(
                {
                    "participant_id": people["participant_id"][hit].to_numpy(),
                    "component": "fixed_participant",
                    "year": 0,
                    "amount": row.value,
                }
            )
        )
    sites = people["site"].astype(str).to_numpy()
    for row in prepared[prepared["kind"] == "site"].itertuples():
        hit = (sites == row.key) & (anchors >= row.start) & (anchors <= row.end)
        if row.arm:
            hit &= arms == row.arm
        if not hit.any():
            state.left_out.append(
                LeftOut("no_participants", "site", str(row.key), 1, float(row.value))
            )
            continue
        parts.append(
            pd.DataFrame(
                {
                    "participant_id": people["participant_id"][hit].to_numpy(),
                    "component": "fixed_site",
                    "year": 0,
                    "amount": row.value / int(hit.sum()),
                }
            )
        )
    return parts


def _month_parts(
    people: pd.DataFrame, months: pd.DataFrame, settings: CostSettings, state: _Pricing
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Benefit payments, earnings (a state without an earnings row earns nothing) and months in
    work, by participant and year."""
    horizon = settings.horizon_months
    anchor_of = pd.Series(people["anchor"].to_numpy(), index=people["participant_id"])
    m = months[
        months["participant_id"].isin(people["participant_id"]) & (months["month"] <= horizon)
    ].reset_index(drop=True)
    m_anchor = anchor_of.reindex(m["participant_id"]).to_numpy(dtype=np.int64)
    month_no = m["month"].to_numpy(dtype=np.int64)
    first_of = (_calendar_month(m_anchor) + month_no - 1).astype("datetime64[M]")
    first = first_of.astype("datetime64[D]").astype(np.int64)
    first = np.where(month_no == 1, m_anchor, first)
    m_year = (month_no - 1) // 12
    states = m["state"]
    unobserved = states.isna().to_numpy()
    observed_count = pd.Series(~unobserved).groupby(m["participant_id"].to_numpy()).sum()
    short = people["participant_id"][
        observed_count.reindex(people["participant_id"]).fillna(0).to_numpy() < horizon
    ]
    if len(short):
        state.left_out.append(LeftOut("not_observed", "benefit", "", len(short), 0.0, len(short)))
    state.incomplete.update(short.tolist())
    state.unobserved.update(short.tolist())
    codes = states.fillna("").astype(str)
    in_state = (~unobserved) & (codes != "").to_numpy()
    benefit = lookup(state.rates, "benefit", codes, first)
    missing_b = in_state & np.isnan(benefit)
    state.left_out += _missing(
        "benefit",
        codes[missing_b],
        pd.Series(np.ones(int(missing_b.sum()))),
        m["participant_id"][missing_b],
    )
    state.incomplete.update(m["participant_id"][missing_b].tolist())
    priced = in_state & ~missing_b
    benefits = pd.DataFrame(
        {
            "participant_id": m["participant_id"][priced].to_numpy(),
            "component": "benefit",
            "year": m_year[priced],
            "amount": benefit[priced],
        }
    )
    pay = np.nan_to_num(lookup(state.rates, "earnings", codes, first), nan=0.0)
    earning = in_state & (pay > 0)
    earnings = pd.DataFrame(
        {
            "participant_id": m["participant_id"][earning].to_numpy(),
            "year": m_year[earning],
            "earnings": pay[earning],
        }
    )
    work = (~unobserved) & codes.isin(settings.work_states).to_numpy()
    effects = (
        pd.DataFrame(
            {"participant_id": m["participant_id"].to_numpy(), "year": m_year, "work": work}
        )
        .groupby(["participant_id", "year"], as_index=False)["work"]
        .sum()
        .rename(columns={"work": "months_in_work"})
    )
    return benefits, earnings, effects


def discount_factors(rate: float, years: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(1 + rate) ** -year``: year 0 (the first 12 months) is not discounted."""
    return np.power(1.0 + rate, -np.asarray(years, dtype=float))


def per_participant(
    parts: Components, *, discount_rate: float, scale: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per participant: each component discounted and summed over years, ``total_cost``
    and ``months_in_work`` (discounted like costs). ``scale`` multiplies the unit costs of a
    kind (one-way sensitivity analyses), e.g. ``{"staff_minute": 1.2}``."""
    scale = scale or {}
    a = parts.amounts
    factor = discount_factors(discount_rate, a["year"].to_numpy()) * a["component"].map(
        lambda comp: scale.get(COMPONENTS[comp], 1.0)
    ).to_numpy(dtype=float)
    wide = (
        pd.DataFrame(
            {
                "participant_id": a["participant_id"],
                "component": a["component"],
                "v": a["amount"] * factor,
            }
        )
        .pivot_table(index="participant_id", columns="component", values="v", aggfunc="sum")
        .reindex(columns=list(COMPONENTS), fill_value=0.0)
    )
    out = parts.participants.set_index("participant_id").join(wide, how="left")
    out[list(COMPONENTS)] = out[list(COMPONENTS)].fillna(0.0)
    out["total_cost"] = out[list(COMPONENTS)].sum(axis=1)
    e = parts.effects
    effect = (
        (e["months_in_work"] * discount_factors(discount_rate, e["year"]))
        .groupby(e["participant_id"])
        .sum()
    )
    out["months_in_work"] = effect.reindex(out.index).fillna(0.0)
    g = parts.earnings
    earned = (g["earnings"].astype(float) * discount_factors(discount_rate, g["year"])).groupby(
        g["participant_id"]
    ).sum() * scale.get("earnings", 1.0)
    out["earnings"] = earned.reindex(out.index).fillna(0.0)
    return out.reset_index()
