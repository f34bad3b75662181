"""What the dose and contamination figures share: the randomised participants, the period, the
arms and sites covered, and a division that gives NaN rather than infinity.

The figures (``dose.py``, ``contamination.py``) are plain functions over a few aggregate
queries. Every function takes a trial and, optionally, the sites to cover (``sites``; None =
all), a first day (``start``) and a cut-off (``end``, default today), and returns a pandas
DataFrame. The database does the heavy lifting (one GROUP BY per table read, so the number of
queries does not grow with participants or contacts); pandas only joins and divides the small
results. The dashboards (``views.py``) and the process report reuse these functions; a caller
that needs several figures passes the frame of one call into the next (``frame=`` /
``data=``) to read the tables once.

*Randomised participant*: a participant with an allocation record (``randomisation``) whose
``randomised_on`` is on or before the cut-off. Participants flagged "randomised in error" stay
in (intention to treat). Their arm is the allocated arm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from django.utils import timezone

from trial.models import Arm, Participant, Site, Trial

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


def period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date | None, dt.date]:
    return start, end or timezone.localdate()


def site_pks(sites: Sequence[Site] | None) -> list[int] | None:
    return None if sites is None else [site.pk for site in sites]


def ratio(part: pd.Series | float, whole: pd.Series | float) -> pd.Series | float:
    """``part / whole`` with NaN (never inf) where ``whole`` is 0."""
    if isinstance(whole, pd.Series):
        return (part / whole.where(whole > 0)).astype("float64")
    if isinstance(part, pd.Series):
        return (part / whole).astype("float64") if whole else part * float("nan")
    return float(part) / whole if whole else float("nan")


def randomised_participants(
    trial: Trial,
    *,
    sites: Sequence[Site] | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """One row per randomised participant (see the module docstring): ids, site, arm, dates.

    One query. Columns: ``PARTICIPANT_COLUMNS``; dates are ``datetime.date`` or None.
    """
    _start, end = period(None, end)
    queryset = Participant.objects.filter(
        trial=trial, allocation__isnull=False, randomised_on__lte=end
    )
    site_ids = site_pks(sites)
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


def arm_table(trial: Trial) -> pd.DataFrame:
    rows = (
        Arm.objects.filter(trial=trial).order_by("code").values_list("code", "name", "is_control")
    )
    return pd.DataFrame.from_records(list(rows), columns=["arm", "name", "is_control"]).set_index(
        "arm"
    )


def site_table(trial: Trial, sites: Sequence[Site] | None) -> pd.DataFrame:
    if sites is None:
        rows = list(Site.objects.filter(trial=trial).order_by("code").values_list("code", "name"))
    else:
        rows = sorted((site.code, site.name) for site in sites)
    return pd.DataFrame.from_records(rows, columns=["site", "name"]).set_index("site")
