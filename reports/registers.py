"""Register endpoints: outcomes taken from the register spells (``pathways``), named in the
analysis plan beside the instruments' variables.

Three families, each named by a key the plan, the data sets and the tables share:

``months_in_<state>_<a>_<b>``
    Months in the state during follow-up months a + 1 to b (``months_in_work_0_12`` is the
    first year, ``months_in_work_12_24`` the second), counted on the monthly sequences the
    pathway pages show (the trial's month rule), so a month counts for the state it is
    assigned. Missing for a participant whose window is not wholly observed by the cut-off (or
    the day the register data are complete until).
``in_<state>_at_<m>``
    In the state in follow-up month m (1 is the month of randomisation): yes/no, missing when
    that month is not observed.
``time_to_first_<state>``
    Months (days / 30.4375) from randomisation to the start of the participant's first spell of
    the state (0 when one is going on at randomisation), censored at the end of register
    follow-up: the earliest of the follow-up window's last day, the data cut-off and the day
    the register data are complete until.

A plan naming a state the trial's alphabet lacks, a window or month beyond the register
follow-up, or an empty window is refused with the reason (:func:`fault`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from trial.models import Trial

MONTHS_IN, IN_STATE_AT, TIME_TO_FIRST = "months_in", "in_state_at", "time_to_first"
DAYS_PER_MONTH = 365.25 / 12
_PATTERNS = [
    (MONTHS_IN, re.compile(r"^months_in_(?P<state>[a-z0-9_-]+?)_(?P<a>\d{1,3})_(?P<b>\d{1,3})$")),
    (IN_STATE_AT, re.compile(r"^in_(?P<state>[a-z0-9_-]+?)_at_(?P<m>\d{1,3})$")),
    (TIME_TO_FIRST, re.compile(r"^time_to_first_(?P<state>[a-z0-9_-]+)$")),
]


@dataclass(frozen=True)
class Endpoint:
    """A parsed register endpoint name."""

    name: str
    family: str
    state: str
    start: int = 0  # months_in: the window is follow-up months start + 1 … end
    end: int = 0  # months_in: the window's last month; in_state_at: the month

    @property
    def kind(self) -> str:
        """The outcome kind that decides the model (``reports.variables``)."""
        return {MONTHS_IN: "register_months", IN_STATE_AT: "binary"}.get(
            self.family, "time_to_event"
        )


def parse(name: object) -> Endpoint | None:
    """The endpoint a name stands for, or None when it is not a register endpoint's name."""
    text = str(name or "")
    for family, pattern in _PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        parts = match.groupdict()
        if family == MONTHS_IN:
            return Endpoint(text, family, parts["state"], int(parts["a"]), int(parts["b"]))
        if family == IN_STATE_AT:
            return Endpoint(text, family, parts["state"], end=int(parts["m"]))
        return Endpoint(text, family, parts["state"])
    return None


def is_time_to_event(name: object) -> bool:
    found = parse(name)
    return found is not None and found.family == TIME_TO_FIRST


def _register(trial: Trial) -> tuple[dict[str, str], int]:
    """The trial's states (code → label) and its register follow-up in months."""
    from pathways import services as pathways

    states = {state.code: state.label for state in pathways.alphabet(trial)}
    return states, pathways.settings_for(trial).follow_up_months


def fault(trial: Trial, name: str) -> str | None:
    """Why the register endpoint ``name`` cannot be an outcome of the trial's plan, or None."""
    endpoint = parse(name)
    if endpoint is None:
        return None
    states, months = _register(trial)
    if endpoint.state not in states:
        known = ", ".join(sorted(states)) or _("none")
        return _(
            "%(name)s names the register state “%(state)s”, which the trial's state alphabet "
            "does not have (its states: %(known)s)."
        ) % {"name": name, "state": endpoint.state, "known": known}
    if endpoint.family == MONTHS_IN:
        if endpoint.start >= endpoint.end:
            return _(
                "%(name)s: the window must end after it starts (from %(start)s to %(end)s months)."
            ) % {"name": name, "start": endpoint.start, "end": endpoint.end}
        if endpoint.end > months:
            return _(
                "%(name)s: the window ends at month %(end)s, beyond the %(months)s months of "
                "register follow-up."
            ) % {"name": name, "end": endpoint.end, "months": months}
    if endpoint.family == IN_STATE_AT and not 1 <= endpoint.end <= months:
        return _(
            "%(name)s: month %(month)s is outside the %(months)s months of register follow-up "
            "(1 is the month of randomisation)."
        ) % {"name": name, "month": endpoint.end, "months": months}
    return None


def label(endpoint: Endpoint, states: dict[str, str]) -> str:
    """How the plan page and the report name an endpoint."""
    state = states.get(endpoint.state, endpoint.state)
    if endpoint.family == MONTHS_IN:
        return _("Months in %(state)s, months %(start)s–%(end)s (registers)") % {
            "state": state.lower(),
            "start": endpoint.start + 1,
            "end": endpoint.end,
        }
    if endpoint.family == IN_STATE_AT:
        return _("In %(state)s in month %(month)s (registers)") % {
            "state": state.lower(),
            "month": endpoint.end,
        }
    return _("Time to first %(state)s (registers)") % {"state": state.lower()}


def choices(trial: Trial) -> list[tuple[str, str]]:
    """The register endpoints the plan page offers: for each state, months in it in each year
    of follow-up and over the whole of it, being in it at the end of each year, and the time to
    its first spell. The API (and a plan) may name any other window within follow-up."""
    states, months = _register(trial)
    out: list[tuple[str, str]] = []
    years = list(range(12, months + 1, 12))
    for code in states:
        names = [f"months_in_{code}_{end - 12}_{end}" for end in years]
        if months not in years or len(years) > 1:
            names.append(f"months_in_{code}_0_{months}")
        names += [f"in_{code}_at_{end}" for end in years or [months]]
        names.append(f"time_to_first_{code}")
        for name in dict.fromkeys(names):
            endpoint = parse(name)
            if endpoint is not None:
                out.append((name, f"{label(endpoint, states)} ({name})"))
    return out


def labels(trial: Trial, names: list[str]) -> dict[str, str]:
    """The report's labels of the register endpoints among ``names``."""
    states, _months = _register(trial)
    found = [parse(name) for name in names]
    return {e.name: label(e, states) for e in found if e is not None}


# --- the data ------------------------------------------------------------------------------


@dataclass
class RegisterData:
    """The register endpoints a plan names: ``values`` has study_id and one column per
    months-in and in-state endpoint; ``times`` one frame (study_id, months, event) per
    time-to-first endpoint."""

    values: pd.DataFrame
    times: dict[str, pd.DataFrame]
    labels: dict[str, str]


def observed_until(trial: Trial, cut_off: dt.date) -> dt.date:
    """The last day the register data are used for: the cut-off, or the day they are
    complete until when that is earlier."""
    from pathways import services as pathways

    complete = pathways.settings_for(trial).data_until
    return min(cut_off, complete) if complete else cut_off


def endpoint_data(trial: Trial, cut_off: dt.date, names: list[str]) -> RegisterData | None:
    """The values of the register endpoints among ``names`` as of ``cut_off`` (spells starting
    after it are left out), for every randomised participant; None when the plan names none."""
    from pathways import services as pathways

    wanted = [e for e in (parse(name) for name in dict.fromkeys(names)) if e is not None]
    if not wanted:
        return None
    current = pathways.settings_for(trial)
    alphabet = pathways.alphabet(trial)
    ranks = {state.pk: rank for rank, state in enumerate(alphabet)}
    people = pathways.anchors(trial, current=current)
    people = people.loc[people["anchor"].notna()].reset_index(drop=True)
    spells = pathways._load_spells(trial, ranks)
    if len(spells):
        spells["state"] = spells["state_id"].map({s.pk: s.code for s in alphabet})
    values, times = compute(
        people,
        spells,
        [state.code for state in alphabet],
        wanted,
        months=current.follow_up_months,
        rule=current.month_rule,
        until=observed_until(trial, cut_off),
    )
    return RegisterData(values, times, labels(trial, [e.name for e in wanted]))


def compute(
    people: pd.DataFrame,
    spells: pd.DataFrame,
    codes: list[str],
    wanted: list[Endpoint],
    *,
    months: int,
    rule: str,
    until: dt.date,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The endpoints ``wanted`` for ``people`` (participant_id, study_id, anchor) from
    ``spells`` (participant_id, rank, state, starts_on, ends_on), ``codes`` the alphabet in
    precedence order: the values frame and the time-to-first frames (see
    :func:`endpoint_data`). Spells starting after ``until`` are left out."""
    from pathways import sequences

    if len(spells):
        spells = spells.loc[pd.to_datetime(spells["starts_on"]) <= pd.Timestamp(until)]
    values = sequences.build(
        spells,
        people,
        n_states=len(codes),
        months=months,
        rule=rule,  # type: ignore[arg-type]  # a MonthRule value
        observed_until=until,
    )
    out = pd.DataFrame({"study_id": people["study_id"].astype(str)})
    times: dict[str, pd.DataFrame] = {}
    for endpoint in wanted:
        if endpoint.state not in codes:
            continue
        index = codes.index(endpoint.state)
        if endpoint.family == MONTHS_IN:
            window = values[:, endpoint.start : endpoint.end]
            complete = (window != sequences.UNOBSERVED).all(axis=1) & (
                window.shape[1] == endpoint.end - endpoint.start
            )
            counts = (window == index).sum(axis=1).astype(float)
            out[endpoint.name] = np.where(complete, counts, np.nan)
        elif endpoint.family == IN_STATE_AT:
            if endpoint.end > values.shape[1]:
                out[endpoint.name] = np.nan
                continue
            month = values[:, endpoint.end - 1]
            out[endpoint.name] = pd.Series(np.where(month == index, 1.0, 0.0), dtype=float).where(
                month != sequences.UNOBSERVED
            )
        else:
            times[endpoint.name] = first_spell_times(people, spells, endpoint.state, months, until)
    return out, times


def first_spell_times(
    people: pd.DataFrame,
    spells: pd.DataFrame,
    state: str,
    follow_up_months: int,
    until: dt.date,
) -> pd.DataFrame:
    """study_id, months, event: time from the anchor (randomisation) to the first spell of
    ``state`` that reaches into follow-up, else censored at the end of register follow-up."""
    from pathways.services import window_end

    anchors = pd.to_datetime(people["anchor"])
    ends = pd.to_datetime(
        [min(window_end(day, follow_up_months), until) for day in people["anchor"]]
    )
    frame = pd.DataFrame(
        {"participant_id": people["participant_id"], "anchor": anchors, "end": ends}
    )
    mine = spells.loc[spells["state"] == state] if len(spells) else spells
    if len(mine):
        mine = mine.merge(frame, on="participant_id")
        starts = pd.to_datetime(mine["starts_on"])
        stops = pd.to_datetime(mine["ends_on"])
        mine = mine.assign(start=starts.where(starts > mine["anchor"], mine["anchor"]))
        mine = mine.loc[(stops.isna() | (stops >= mine["anchor"])) & (mine["start"] <= mine["end"])]
        first = mine.groupby("participant_id")["start"].min()
    else:
        first = pd.Series(dtype="datetime64[ns]")
    frame["first"] = frame["participant_id"].map(first)
    event = frame["first"].notna()
    stop = frame["first"].where(event, frame["end"])
    months = (stop - frame["anchor"]).dt.days / DAYS_PER_MONTH
    return pd.DataFrame(
        {
            "study_id": people["study_id"].astype(str),
            "months": months.clip(lower=0).astype(float),
            "event": event.astype(bool),
        }
    )
