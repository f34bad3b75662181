"""Contamination: control participants exposed, by month, site, control arm and source, and
the sites driving it lately. Shared definitions and helpers: ``common.py``.

*Contamination*: a control participant is *exposed* when they have at least one contamination
exposure (any source: logged contact, assessment, staff report; see ``fidelity.models.Exposure``)
dated in the period. ``share_exposed`` = exposed control participants / randomised control
participants. Exposure *events* count exposure records, including site-level events with no
participant (counted at their site only). Months are calendar months (``YYYY-MM``) of the
exposure date: ``new_exposed`` counts control participants whose first exposure fell in the
month, ``cumulative_share`` is the exposed by the end of the month over the control
participants randomised by then. *Sites driving contamination*: sites ranked by exposure
events in the last ``weeks`` weeks up to the cut-off (default 8, i.e. the 56 days ending on
the cut-off).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce, TruncMonth

from fidelity.dashboards.common import (
    arm_table,
    period,
    randomised_participants,
    ratio,
    site_pks,
    site_table,
)
from fidelity.models import Exposure
from trial.models import Site, Trial

RECENT_WEEKS = 8


@dataclass
class ExposureData:
    """What the contamination summaries read, from three queries (see :func:`exposure_data`)."""

    start: dt.date | None
    end: dt.date
    controls: pd.DataFrame
    """Randomised control participants: ``PARTICIPANT_COLUMNS``."""
    first: pd.DataFrame
    """First exposure of each control participant by source: participant_id, source, first_on."""
    events: pd.DataFrame
    """Exposure records counted by month, site and source: month (first day), site, source,
    events, participant_events, recent (in the last ``RECENT_WEEKS`` weeks)."""


def exposure_data(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> ExposureData:
    """Read what the contamination summaries need (three queries), for the period and sites.

    A participant's exposure belongs to the participant's site; a site-level event (no
    participant) to its own site.
    """
    start, end = period(start, end)
    participants = randomised_participants(trial, sites=sites, end=end)
    controls = participants[participants["is_control"]].reset_index(drop=True)
    exposures = Exposure.objects.filter(trial=trial, exposed_on__lte=end).annotate(
        unit_site=Coalesce("participant__site_id", "site_id")
    )
    if start is not None:
        exposures = exposures.filter(exposed_on__gte=start)
    site_ids = site_pks(sites)
    if site_ids is not None:
        exposures = exposures.filter(unit_site__in=site_ids)

    first_rows = (
        exposures.filter(participant__isnull=False)
        .values("participant_id", "source")
        .annotate(first_on=Min("exposed_on"))
        .order_by()
    )
    first = pd.DataFrame.from_records(
        list(first_rows), columns=["participant_id", "source", "first_on"]
    )
    first = first[first["participant_id"].isin(controls["participant_id"])].reset_index(drop=True)

    recent_from = end - dt.timedelta(weeks=RECENT_WEEKS) + dt.timedelta(days=1)
    event_rows = (
        exposures.annotate(month=TruncMonth("exposed_on"))
        .values("month", "unit_site", "source")
        .annotate(
            events=Count("id"),
            participant_events=Count("participant_id"),
            recent=Count("id", filter=Q(exposed_on__gte=recent_from)),
        )
        .order_by()
    )
    events = pd.DataFrame.from_records(
        list(event_rows),
        columns=["month", "unit_site", "source", "events", "participant_events", "recent"],
    )
    codes = dict(Site.objects.filter(trial=trial).values_list("pk", "code"))
    events["site"] = events["unit_site"].map(codes)
    events = events.drop(columns="unit_site")
    return ExposureData(start=start, end=end, controls=controls, first=first, events=events)


def _first_exposures(data: ExposureData) -> pd.DataFrame:
    """The first exposure (any source) of each exposed control participant, with site and arm."""
    first = data.first.groupby("participant_id", as_index=False)["first_on"].min()
    return first.merge(data.controls[["participant_id", "site", "arm"]], on="participant_id")


def _get_data(
    trial: Trial,
    data: ExposureData | None,
    sites: Sequence[Site] | None,
    start: dt.date | None,
    end: dt.date | None,
) -> ExposureData:
    return data if data is not None else exposure_data(trial, sites=sites, start=start, end=end)


def contamination_overall(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    data: ExposureData | None = None,
) -> pd.Series:
    """Headline figures: ``controls``, ``exposed``, ``share_exposed``, ``events`` and
    ``recent_events`` (definitions in the module docstring)."""
    data = _get_data(trial, data, sites, start, end)
    controls = len(data.controls)
    exposed = len(_first_exposures(data))
    return pd.Series(
        {
            "controls": controls,
            "exposed": exposed,
            "share_exposed": ratio(exposed, controls),
            "events": int(data.events["events"].sum()),
            "recent_events": int(data.events["recent"].sum()),
        },
        dtype=object,
    )


def contamination_by_month(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    data: ExposureData | None = None,
) -> pd.DataFrame:
    """Contamination by calendar month of the exposure date.

    Indexed by month (``YYYY-MM``), every month from ``start`` (or the first control
    randomisation or exposure) to the cut-off's month. Columns: ``events`` (exposure records,
    site-level ones included), ``new_exposed`` (control participants first exposed in the
    month), ``cumulative_exposed``, ``controls`` (control participants randomised by the end of
    the month, or by the cut-off in its month), ``cumulative_share``.
    """
    data = _get_data(trial, data, sites, start, end)
    first = _first_exposures(data)
    candidates = [
        *pd.to_datetime(data.controls["randomised_on"]).tolist(),
        *pd.to_datetime(data.events["month"]).tolist(),
    ]
    if data.start is not None:
        first_month = pd.Period(data.start, "M")
    elif candidates:
        first_month = pd.Period(min(candidates), "M")
    else:
        first_month = pd.Period(data.end, "M")
    months = pd.period_range(first_month, pd.Period(data.end, "M"), freq="M")

    events = (
        data.events.assign(month=pd.to_datetime(data.events["month"]).dt.to_period("M"))
        .groupby("month")["events"]
        .sum()
    )
    new = (
        pd.to_datetime(first["first_on"]).dt.to_period("M").value_counts()
        if len(first)
        else pd.Series(dtype="int64")
    )
    randomised = (
        pd.to_datetime(data.controls["randomised_on"]).dt.to_period("M").value_counts()
        if len(data.controls)
        else pd.Series(dtype="int64")
    )
    result = pd.DataFrame(index=months)
    result["events"] = events.reindex(months).fillna(0).astype("int64")
    result["new_exposed"] = new.reindex(months).fillna(0).astype("int64")
    result["cumulative_exposed"] = result["new_exposed"].cumsum()
    # Controls randomised before the first month shown are in every month's denominator.
    earlier = int(randomised[randomised.index < months[0]].sum()) if len(randomised) else 0
    result["controls"] = randomised.reindex(months).fillna(0).astype("int64").cumsum() + earlier
    result["cumulative_share"] = ratio(result["cumulative_exposed"], result["controls"])
    result.index = result.index.strftime("%Y-%m")
    result.index.name = "month"
    return result


def contamination_by_site(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    data: ExposureData | None = None,
) -> pd.DataFrame:
    """Contamination by site: indexed by site code, every site covered.

    Columns: ``name``, ``controls``, ``exposed``, ``share_exposed``, ``events`` (all exposure
    records), ``site_events`` (site-level, no participant), ``recent_events`` (last
    ``RECENT_WEEKS`` weeks).
    """
    data = _get_data(trial, data, sites, start, end)
    covered = site_table(trial, sites)
    result = covered.copy()
    result["controls"] = data.controls.groupby("site").size().reindex(covered.index)
    result["exposed"] = _first_exposures(data).groupby("site").size().reindex(covered.index)
    by_site = data.events.groupby("site")
    result["events"] = by_site["events"].sum().reindex(covered.index)
    result["site_events"] = (
        (data.events["events"] - data.events["participant_events"])
        .groupby(data.events["site"])
        .sum()
        .reindex(covered.index)
    )
    result["recent_events"] = by_site["recent"].sum().reindex(covered.index)
    counts = ["controls", "exposed", "events", "site_events", "recent_events"]
    result[counts] = result[counts].fillna(0).astype("int64")
    result["share_exposed"] = ratio(result["exposed"], result["controls"])
    return result[
        ["name", "controls", "exposed", "share_exposed", "events", "site_events", "recent_events"]
    ]


def contamination_by_arm(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    data: ExposureData | None = None,
) -> pd.DataFrame:
    """Contamination by control arm: indexed by arm code (control arms only).

    Columns: ``name``, ``controls``, ``exposed``, ``share_exposed``.
    """
    data = _get_data(trial, data, sites, start, end)
    arms = arm_table(trial)
    arms = arms[arms["is_control"]][["name"]]
    result = arms.copy()
    result["controls"] = data.controls.groupby("arm").size().reindex(arms.index)
    result["exposed"] = _first_exposures(data).groupby("arm").size().reindex(arms.index)
    result[["controls", "exposed"]] = result[["controls", "exposed"]].fillna(0).astype("int64")
    result["share_exposed"] = ratio(result["exposed"], result["controls"])
    return result


def contamination_by_source(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    data: ExposureData | None = None,
) -> pd.DataFrame:
    """Contamination by source of the exposure: indexed by source code, every source.

    Columns: ``label`` (translated), ``events``, ``exposed`` (control participants with an
    exposure from this source; one participant may count under several sources),
    ``share_exposed`` (of all randomised control participants).
    """
    data = _get_data(trial, data, sites, start, end)
    sources = pd.Index(Exposure.Source.values, name="source")
    result = pd.DataFrame(
        {"label": [str(label) for label in Exposure.Source.labels]}, index=sources
    )
    result["events"] = data.events.groupby("source")["events"].sum().reindex(sources)
    result["exposed"] = data.first.groupby("source").size().reindex(sources)
    result[["events", "exposed"]] = result[["events", "exposed"]].fillna(0).astype("int64")
    result["share_exposed"] = ratio(result["exposed"], float(len(data.controls)))
    return result


def sites_driving_contamination(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    end: dt.date | None = None,
    data: ExposureData | None = None,
) -> pd.DataFrame:
    """Sites ranked by exposure events in the last ``RECENT_WEEKS`` weeks up to the cut-off.

    Only sites with at least one such event, most first (ties by site code). Columns:
    ``name``, ``recent_events``, ``recent_exposed`` (control participants first exposed in
    those weeks), ``share_of_recent`` (the site's part of all recent events), ``events`` (in the
    whole period). ``data`` may come from :func:`exposure_data` with any ``start``.
    """
    data = _get_data(trial, data, sites, None, end)
    recent_from = data.end - dt.timedelta(weeks=RECENT_WEEKS) + dt.timedelta(days=1)
    by_site = contamination_by_site(trial, sites=sites, data=data)
    first = _first_exposures(data)
    recent_first = first[pd.to_datetime(first["first_on"]) >= pd.Timestamp(recent_from)]
    result = by_site[["name", "recent_events", "events"]].copy()
    result["recent_exposed"] = (
        recent_first.groupby("site").size().reindex(result.index).fillna(0).astype("int64")
    )
    total = int(result["recent_events"].sum())
    result["share_of_recent"] = ratio(result["recent_events"], float(total))
    result = result[result["recent_events"] > 0]
    result = result.reset_index().sort_values(["recent_events", "site"], ascending=[False, True])
    return result.set_index("site")[
        ["name", "recent_events", "recent_exposed", "share_of_recent", "events"]
    ]


def latest_exposures(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    end: dt.date | None = None,
    limit: int = 10,
) -> pd.DataFrame:
    """The ``limit`` most recent exposures up to the cut-off (one query), newest first.

    Columns: ``exposed_on``, ``study_id`` (empty for a site-level event), ``site``,
    ``source`` (code), ``component`` (name, may be empty), ``note``.
    """
    _start, end = period(None, end)
    exposures = Exposure.objects.filter(trial=trial, exposed_on__lte=end).annotate(
        unit_site=Coalesce("participant__site_id", "site_id")
    )
    site_ids = site_pks(sites)
    if site_ids is not None:
        exposures = exposures.filter(unit_site__in=site_ids)
    rows = (
        exposures.annotate(site_code=Coalesce("participant__site__code", "site__code"))
        .order_by("-exposed_on", "-id")
        .values_list(
            "exposed_on", "participant__study_id", "site_code", "source", "component__name", "note"
        )[:limit]
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["exposed_on", "study_id", "site", "source", "component", "note"]
    )
    return frame.fillna({"study_id": "", "component": ""})
