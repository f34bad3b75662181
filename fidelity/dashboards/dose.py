"""Dose and reach: contacts and minutes per participant-month, time to the first contact,
reach, and the components each arm received. Shared definitions and helpers: ``common.py``.

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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from django.db.models import Count, F, Min, Q, Sum, TextField
from django.db.models.functions import Cast

from fidelity.dashboards.common import (
    PARTICIPANT_COLUMNS,
    arm_table,
    period,
    randomised_participants,
    ratio,
    site_pks,
    site_table,
)
from fidelity.models import Component, Contact
from trial.models import Site, Trial

DAYS_PER_MONTH = 365.25 / 12

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


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole days between two columns of dates (NaN where either is missing)."""
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days.astype("float64")


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
    start, end = period(start, end)
    frame = randomised_participants(trial, sites=sites, end=end)
    site_ids = site_pks(sites)

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
    frame["contacts_per_month"] = ratio(frame["contacts"], frame["follow_months"])
    frame["minutes_per_month"] = ratio(frame["minutes"], frame["follow_months"])
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
    start, end = period(start, end)
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
    site_ids = site_pks(sites)
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
    arms = arm_table(trial)
    result = arms.join(_dose_totals(frame, "arm", arms.index))
    result["contacts_per_month"] = ratio(result["contacts"], result["follow_months"])
    result["minutes_per_month"] = ratio(result["minutes"], result["follow_months"])
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
    start, end = period(start, end)
    if frame is None:
        frame = dose_by_participant(trial, sites=sites, start=start, end=end)
    covered = site_table(trial, sites)
    employer = Contact.objects.filter(trial=trial, participant__isnull=True, contact_on__lte=end)
    if start is not None:
        employer = employer.filter(contact_on__gte=start)
    site_ids = site_pks(sites)
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
    result["contacts_per_month"] = ratio(all_contacts, result["follow_months"])
    result["minutes_per_month"] = ratio(all_minutes, result["follow_months"])
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
            "contacts_per_month": ratio(int(frame["contacts"].sum()), months),
            "minutes_per_month": ratio(int(frame["minutes"].sum()), months),
            "reached": int(frame["reached"].sum()),
            "reached_share": ratio(int(frame["reached"].sum()), n),
            "reached_specific": int(frame["reached_specific"].sum()),
            "reached_specific_share": ratio(int(frame["reached_specific"].sum()), n),
            "contacted": len(days),
            "median_days_to_first_contact": float(days.median()) if len(days) else float("nan"),
        },
        dtype=object,
    )


def _group_index(trial: Trial, by: str, sites: Sequence[Site] | None) -> pd.DataFrame:
    if by == "arm":
        return arm_table(trial)
    if by == "site":
        return site_table(trial, sites)
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
    result["reached_share"] = ratio(result["reached"], result["participants"])
    result["reached_specific_share"] = ratio(result["reached_specific"], result["participants"])
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
    arms = arm_table(trial)
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
    grid["share"] = ratio(grid["received"], grid["participants"])
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
