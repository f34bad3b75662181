"""Dose, reach and contamination summaries: plain functions over a few aggregate queries.

Every function takes a trial and, optionally, the sites to cover (``sites``; None = all), a
first day (``start``) and a cut-off (``end``, default today), and returns a pandas DataFrame.
The database does the heavy lifting (one GROUP BY per table read, so the number of queries does
not grow with participants or contacts); pandas only joins and divides the small results. The
dashboards (``fidelity.dashboard_views``) and the process report reuse these functions; a
caller that needs several summaries passes the frame of one call into the next
(``frame=`` / ``data=``) to read the tables once.

Definitions used throughout
---------------------------

*Randomised participant*: a participant with an allocation record (``randomisation``) whose
``randomised_on`` is on or before the cut-off. Participants flagged "randomised in error" stay
in (intention to treat). Their arm is the allocated arm.

*Follow-up time* (the denominator of dose): from ``max(randomised_on, start)`` to
``min(end, withdrawn_on)``, counting both days; ``follow_months`` is that number of days
divided by the mean calendar month (365.25 / 12 = 30.4375 days). A participant who withdrew
before ``start`` has no follow-up time. Loss to follow-up does not end it (no date is known).

*Participant dose*: contacts logged with the participant dated from their randomisation day to
the cut-off (and not before ``start``); contacts before randomisation (while screening) are
not intervention dose. ``contacts_per_month`` and ``minutes_per_month`` of a group are the
group's contacts (minutes) divided by its participant-months of follow-up (a pooled rate, not
a mean of individual rates).

*Site dose* adds the site's employer contacts about no single participant (job development)
to its participants' contacts; they count for the site, never for a participant or an arm.

*Time to first contact*: days from randomisation to the first contact on or after it (up to
the cut-off; ``start`` does not apply). *To first employer contact*: the same for the first
contact with the participant in which an employer took part. Median and quartiles (linear
interpolation between order statistics, as numpy's default and R's type 7) are over the
participants who had such a contact; ``contacted`` says how many that is. Participants not
contacted yet are not in the median (it is not a Kaplan-Meier estimate).

*Reach*: share of randomised participants with at least one contact in the period;
*specific reach*: share with at least one intervention-specific component delivered in the
period. *Components delivered*: for each component, the share of the arm's randomised
participants who received it at least once in the period.

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
from django.db.models import Count, F, Min, Q, Sum, TextField
from django.db.models.functions import Cast, Coalesce, TruncMonth
from django.utils import timezone

from fidelity.models import Component, Contact, Exposure
from trial.models import Arm, Participant, Site, Trial

DAYS_PER_MONTH = 365.25 / 12
RECENT_WEEKS = 8

PARTICIPANT_COLUMNS = [
    "participant_id",
    "study_id",
    "site_id",
    "site",
    "arm_id",
    "arm",
    "is_control",
    "randomised_on",
    "withdrawn_on",
]
DOSE_COLUMNS = [
    "follow_from",
    "follow_to",
    "follow_days",
    "follow_months",
    "contacts",
    "minutes",
    "contacts_per_month",
    "minutes_per_month",
    "first_contact_on",
    "first_employer_contact_on",
    "days_to_first_contact",
    "days_to_first_employer_contact",
    "reached",
    "reached_specific",
]


def _period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date | None, dt.date]:
    return start, end or timezone.localdate()


def _site_ids(sites: Sequence[Site] | None) -> list[int] | None:
    return None if sites is None else [site.pk for site in sites]


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole days between two columns of dates (NaN where either is missing)."""
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days.astype("float64")


def _ratio(part: pd.Series | float, whole: pd.Series | float) -> pd.Series | float:
    """``part / whole`` with NaN (never inf) where ``whole`` is 0."""
    if isinstance(whole, pd.Series):
        return (part / whole.where(whole > 0)).astype("float64")
    if isinstance(part, pd.Series):
        return (part / whole).astype("float64") if whole else part * float("nan")
    return float(part) / whole if whole else float("nan")


# Participants and their dose


def randomised_participants(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """One row per randomised participant (see the module docstring): ids, site, arm, dates.

    One query. Columns: ``PARTICIPANT_COLUMNS``; dates are ``datetime.date`` or None.
    """
    _start, end = _period(None, end)
    queryset = Participant.objects.filter(
        trial=trial, allocation__isnull=False, randomised_on__lte=end
    )
    site_ids = _site_ids(sites)
    if site_ids is not None:
        queryset = queryset.filter(site_id__in=site_ids)
    rows = queryset.order_by("study_id").values_list(
        "pk",
        "study_id",
        "site_id",
        "site__code",
        "allocation__arm_id",
        "allocation__arm__code",
        "allocation__arm__is_control",
        "randomised_on",
        "withdrawal__withdrawn_on",
    )
    frame = pd.DataFrame.from_records(list(rows), columns=PARTICIPANT_COLUMNS)
    frame["is_control"] = frame["is_control"].astype(bool)
    return frame


def _employer_condition() -> Q:
    # ``partners`` is a JSON list of codes; its text holds '"employer"' exactly when the list
    # does. This works on PostgreSQL and SQLite alike (jsonb containment does not exist there).
    return Q(partners_text__contains=f'"{Contact.Partner.EMPLOYER}"')


def dose_by_participant(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    delivered: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Dose, timing and reach of every randomised participant (three queries).

    Columns: ``PARTICIPANT_COLUMNS`` + ``DOSE_COLUMNS``, one row per participant, indexed
    0..n-1 in study-id order. ``contacts_per_month`` is NaN for no follow-up time;
    ``days_to_first_*`` is NaN for no such contact yet. Definitions: module docstring.
    ``delivered`` is a result of :func:`delivered_components` for the same arguments (saves
    its query, the most expensive one, when the caller needs it too).
    """
    start, end = _period(start, end)
    frame = randomised_participants(trial, sites=sites, end=end)
    site_ids = _site_ids(sites)

    contacts = Contact.objects.filter(
        trial=trial,
        participant__isnull=False,
        contact_on__gte=F("participant__randomised_on"),
        contact_on__lte=end,
    )
    if site_ids is not None:
        contacts = contacts.filter(site_id__in=site_ids)
    in_period = Q(contact_on__gte=start) if start else Q()
    per_participant = (
        contacts.alias(partners_text=Cast("partners", TextField()))
        .values("participant_id")
        .annotate(
            contacts=Count("id", filter=in_period),
            minutes=Sum("minutes", filter=in_period, default=0),
            first_contact_on=Min("contact_on"),
            first_employer_contact_on=Min("contact_on", filter=_employer_condition()),
        )
        .order_by()
    )
    dose = pd.DataFrame.from_records(
        list(per_participant),
        columns=[
            "participant_id",
            "contacts",
            "minutes",
            "first_contact_on",
            "first_employer_contact_on",
        ],
    )

    if delivered is None:
        delivered = delivered_components(trial, sites=sites, start=start, end=end)
    specific = set(
        delivered.loc[delivered["intervention_specific"], "participant_id"].astype(int).tolist()
    )

    frame = frame.merge(dose, on="participant_id", how="left")
    for column in ("contacts", "minutes"):
        frame[column] = frame[column].fillna(0).astype("int64")
    follow_from = pd.to_datetime(frame["randomised_on"])
    if start is not None:
        follow_from = follow_from.clip(lower=pd.Timestamp(start))
    follow_to = pd.to_datetime(frame["withdrawn_on"]).fillna(pd.Timestamp(end))
    follow_to = follow_to.clip(upper=pd.Timestamp(end))
    frame["follow_from"] = follow_from.dt.date
    frame["follow_to"] = follow_to.dt.date
    frame["follow_days"] = ((follow_to - follow_from).dt.days + 1).clip(lower=0).astype("int64")
    frame["follow_months"] = frame["follow_days"] / DAYS_PER_MONTH
    frame["contacts_per_month"] = _ratio(frame["contacts"], frame["follow_months"])
    frame["minutes_per_month"] = _ratio(frame["minutes"], frame["follow_months"])
    frame["days_to_first_contact"] = _days(frame["first_contact_on"], frame["randomised_on"])
    frame["days_to_first_employer_contact"] = _days(
        frame["first_employer_contact_on"], frame["randomised_on"]
    )
    frame["reached"] = frame["contacts"] > 0
    frame["reached_specific"] = frame["participant_id"].isin(specific)
    return frame[PARTICIPANT_COLUMNS + DOSE_COLUMNS]


def delivered_components(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Which randomised participant received which component in the period (one query).

    One row per (participant, component) pair delivered at least once by a contact dated from
    the participant's randomisation to the cut-off (and not before ``start``). Columns:
    ``participant_id``, ``component_id``, ``intervention_specific``.
    """
    start, end = _period(start, end)
    through = Contact.components.through
    pairs = through.objects.filter(
        contact__trial=trial,
        contact__participant__isnull=False,
        contact__participant__randomised_on__isnull=False,
        contact__contact_on__gte=F("contact__participant__randomised_on"),
        contact__contact_on__lte=end,
    )
    if start is not None:
        pairs = pairs.filter(contact__contact_on__gte=start)
    site_ids = _site_ids(sites)
    if site_ids is not None:
        pairs = pairs.filter(contact__site_id__in=site_ids)
    rows = (
        pairs.values_list(
            "contact__participant_id", "component_id", "component__intervention_specific"
        )
        .order_by()
        .distinct()
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["participant_id", "component_id", "intervention_specific"]
    )
    frame["intervention_specific"] = frame["intervention_specific"].astype(bool)
    return frame


def _arms(trial: Trial) -> pd.DataFrame:
    rows = (
        Arm.objects.filter(trial=trial).order_by("code").values_list("code", "name", "is_control")
    )
    return pd.DataFrame.from_records(list(rows), columns=["arm", "name", "is_control"]).set_index(
        "arm"
    )


def _sites(trial: Trial, sites: Sequence[Site] | None) -> pd.DataFrame:
    if sites is None:
        rows = list(Site.objects.filter(trial=trial).order_by("code").values_list("code", "name"))
    else:
        rows = sorted((site.code, site.name) for site in sites)
    return pd.DataFrame.from_records(rows, columns=["site", "name"]).set_index("site")


def _dose_totals(frame: pd.DataFrame, by: str, index: pd.Index) -> pd.DataFrame:
    grouped = frame.groupby(by)
    totals = pd.DataFrame(
        {
            "participants": grouped.size(),
            "follow_months": grouped["follow_months"].sum(),
            "contacts": grouped["contacts"].sum(),
            "minutes": grouped["minutes"].sum(),
        }
    ).reindex(index)
    totals = totals.fillna({"participants": 0, "follow_months": 0.0, "contacts": 0, "minutes": 0})
    return totals.astype(
        {
            "participants": "int64",
            "follow_months": "float64",
            "contacts": "int64",
            "minutes": "int64",
        }
    )


def dose_by_arm(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Contacts and minutes per participant-month of follow-up, by arm.

    Indexed by arm code, every arm of the trial in code order. Columns: ``name``,
    ``is_control``, ``participants``, ``follow_months``, ``contacts``, ``minutes``,
    ``contacts_per_month``, ``minutes_per_month``. Employer contacts about no single
    participant are not in any arm. ``frame`` is a result of :func:`dose_by_participant` for
    the same arguments (saves its queries).
    """
    if frame is None:
        frame = dose_by_participant(trial, sites=sites, start=start, end=end)
    arms = _arms(trial)
    result = arms.join(_dose_totals(frame, "arm", arms.index))
    result["contacts_per_month"] = _ratio(result["contacts"], result["follow_months"])
    result["minutes_per_month"] = _ratio(result["minutes"], result["follow_months"])
    return result


def dose_by_site(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Contacts and minutes per participant-month of follow-up, by site (with employer contacts).

    Indexed by site code, every site covered in code order. Columns: ``name``,
    ``participants``, ``follow_months``, ``contacts`` (with participants), ``minutes`` (of
    those), ``employer_contacts`` and ``employer_minutes`` (about no single participant),
    ``contacts_per_month`` and ``minutes_per_month`` (all of the site's contacts over its
    participants' follow-up time).
    """
    start, end = _period(start, end)
    if frame is None:
        frame = dose_by_participant(trial, sites=sites, start=start, end=end)
    covered = _sites(trial, sites)
    employer = Contact.objects.filter(trial=trial, participant__isnull=True, contact_on__lte=end)
    if start is not None:
        employer = employer.filter(contact_on__gte=start)
    site_ids = _site_ids(sites)
    if site_ids is not None:
        employer = employer.filter(site_id__in=site_ids)
    rows = (
        employer.values("site__code")
        .annotate(employer_contacts=Count("id"), employer_minutes=Sum("minutes"))
        .order_by()
    )
    by_site = pd.DataFrame.from_records(
        list(rows), columns=["site__code", "employer_contacts", "employer_minutes"]
    ).set_index("site__code")
    result = covered.join(_dose_totals(frame, "site", covered.index))
    result = result.join(by_site.reindex(covered.index).fillna(0).astype("int64"))
    all_contacts = result["contacts"] + result["employer_contacts"]
    all_minutes = result["minutes"] + result["employer_minutes"]
    result["contacts_per_month"] = _ratio(all_contacts, result["follow_months"])
    result["minutes_per_month"] = _ratio(all_minutes, result["follow_months"])
    return result


def dose_overall(frame: pd.DataFrame) -> pd.Series:
    """Headline figures over all participants of a :func:`dose_by_participant` frame.

    ``participants``, ``follow_months``, ``contacts``, ``minutes``, ``contacts_per_month``,
    ``minutes_per_month``, ``reached``, ``reached_share``, ``reached_specific``,
    ``reached_specific_share``, ``contacted`` and ``median_days_to_first_contact``.
    """
    months = float(frame["follow_months"].sum())
    n = len(frame)
    days = frame["days_to_first_contact"].dropna().astype("float64")
    return pd.Series(
        {
            "participants": n,
            "follow_months": months,
            "contacts": int(frame["contacts"].sum()),
            "minutes": int(frame["minutes"].sum()),
            "contacts_per_month": _ratio(int(frame["contacts"].sum()), months),
            "minutes_per_month": _ratio(int(frame["minutes"].sum()), months),
            "reached": int(frame["reached"].sum()),
            "reached_share": _ratio(int(frame["reached"].sum()), n),
            "reached_specific": int(frame["reached_specific"].sum()),
            "reached_specific_share": _ratio(int(frame["reached_specific"].sum()), n),
            "contacted": len(days),
            "median_days_to_first_contact": float(days.median()) if len(days) else float("nan"),
        },
        dtype=object,
    )


def _group_index(trial: Trial, by: str, sites: Sequence[Site] | None) -> pd.DataFrame:
    if by == "arm":
        return _arms(trial)
    if by == "site":
        return _sites(trial, sites)
    raise ValueError(f"by must be 'arm' or 'site', not {by!r}")


def time_to_first_contact(
    trial: Trial,
    *,
    by: str = "arm",
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Days from randomisation to the first contact and to the first employer contact.

    ``by`` is ``"arm"`` or ``"site"``; indexed by its code, every arm or site covered. Columns:
    ``participants``; ``contacted``, ``median``, ``q1``, ``q3`` (first contact);
    ``employer_contacted``, ``employer_median``, ``employer_q1``, ``employer_q3``. Medians and
    quartiles are NaN for a group nobody was contacted in.
    """
    if frame is None:
        frame = dose_by_participant(trial, sites=sites, start=start, end=end)
    groups = _group_index(trial, by, sites)
    result = pd.DataFrame(index=groups.index)
    result["participants"] = frame.groupby(by).size().reindex(groups.index).fillna(0)
    result["participants"] = result["participants"].astype("int64")
    for prefix, column in (
        ("", "days_to_first_contact"),
        ("employer_", "days_to_first_employer_contact"),
    ):
        days = frame[[by, column]].dropna().astype({column: "float64"})
        grouped = days.groupby(by)[column]
        result[f"{prefix}contacted"] = (
            grouped.size().reindex(groups.index).fillna(0).astype("int64")
        )
        for name, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
            result[f"{prefix}{name}"] = grouped.quantile(q).reindex(groups.index).astype("float64")
    return result


def reach(
    trial: Trial,
    *,
    by: str = "arm",
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Share of randomised participants reached, by arm or site.

    Indexed by arm or site code. Columns: ``participants``, ``reached`` (at least one contact
    in the period), ``reached_share``, ``reached_specific`` (at least one intervention-specific
    component), ``reached_specific_share``. Shares are fractions (0..1), NaN for no participants.
    """
    if frame is None:
        frame = dose_by_participant(trial, sites=sites, start=start, end=end)
    groups = _group_index(trial, by, sites)
    grouped = frame.groupby(by)
    result = pd.DataFrame(
        {
            "participants": grouped.size(),
            "reached": grouped["reached"].sum(),
            "reached_specific": grouped["reached_specific"].sum(),
        }
    )
    result = result.reindex(groups.index).fillna(0).astype("int64")
    result["reached_share"] = _ratio(result["reached"], result["participants"])
    result["reached_specific_share"] = _ratio(result["reached_specific"], result["participants"])
    return result[
        ["participants", "reached", "reached_share", "reached_specific", "reached_specific_share"]
    ]


def components_delivered(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    frame: pd.DataFrame | None = None,
    delivered: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Share of each arm's randomised participants who received each component in the period.

    One row per (component, arm), components in their order, arms by code. Columns:
    ``component`` (code), ``component_name``, ``intervention_specific``, ``arm``,
    ``participants`` (randomised in the arm), ``received``, ``share`` (NaN for an empty arm).
    ``frame`` as for :func:`dose_by_arm` (only its participant columns are used);
    ``delivered`` a result of :func:`delivered_components` for the same arguments.
    """
    if frame is None:
        frame = randomised_participants(trial, sites=sites, end=end)
    if delivered is None:
        delivered = delivered_components(trial, sites=sites, start=start, end=end)
    components = pd.DataFrame.from_records(
        list(
            Component.objects.filter(trial=trial)
            .order_by("order", "code")
            .values_list("pk", "code", "name", "intervention_specific")
        ),
        columns=["component_id", "component", "component_name", "intervention_specific"],
    )
    components["intervention_specific"] = components["intervention_specific"].astype(bool)
    arms = _arms(trial)
    sizes = frame.groupby("arm").size().reindex(arms.index).fillna(0).astype("int64")
    arm_of = frame[["participant_id", "arm"]]
    received = (
        delivered[["participant_id", "component_id"]]
        .merge(arm_of, on="participant_id")
        .groupby(["component_id", "arm"])
        .size()
        .rename("received")
    )
    grid = components.merge(pd.DataFrame({"arm": arms.index}), how="cross")
    grid["participants"] = grid["arm"].map(sizes).astype("int64")
    grid = grid.join(received, on=["component_id", "arm"])
    grid["received"] = grid["received"].fillna(0).astype("int64")
    grid["share"] = _ratio(grid["received"], grid["participants"])
    return grid[
        [
            "component",
            "component_name",
            "intervention_specific",
            "arm",
            "participants",
            "received",
            "share",
        ]
    ]


# Contamination


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
    start, end = _period(start, end)
    participants = randomised_participants(trial, sites=sites, end=end)
    controls = participants[participants["is_control"]].reset_index(drop=True)
    exposures = Exposure.objects.filter(trial=trial, exposed_on__lte=end).annotate(
        unit_site=Coalesce("participant__site_id", "site_id")
    )
    if start is not None:
        exposures = exposures.filter(exposed_on__gte=start)
    site_ids = _site_ids(sites)
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
            "share_exposed": _ratio(exposed, controls),
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
    result["cumulative_share"] = _ratio(result["cumulative_exposed"], result["controls"])
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
    covered = _sites(trial, sites)
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
    result["share_exposed"] = _ratio(result["exposed"], result["controls"])
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
    arms = _arms(trial)
    arms = arms[arms["is_control"]][["name"]]
    result = arms.copy()
    result["controls"] = data.controls.groupby("arm").size().reindex(arms.index)
    result["exposed"] = _first_exposures(data).groupby("arm").size().reindex(arms.index)
    result[["controls", "exposed"]] = result[["controls", "exposed"]].fillna(0).astype("int64")
    result["share_exposed"] = _ratio(result["exposed"], result["controls"])
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
    result["share_exposed"] = _ratio(result["exposed"], float(len(data.controls)))
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
    result["share_of_recent"] = _ratio(result["recent_events"], float(total))
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
    _start, end = _period(None, end)
    exposures = Exposure.objects.filter(trial=trial, exposed_on__lte=end).annotate(
        unit_site=Coalesce("participant__site_id", "site_id")
    )
    site_ids = _site_ids(sites)
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
