"""The coordinator's weekly dashboards: dose and reach, and contamination.

Both pages show figures by arm, or only for the control arm, so they reveal allocations: they
need the dashboard right *and* the right to see allocations (coordinators, data managers,
monitors, unblinded statisticians). Blinded statisticians get 403, as for the exposure list.
The figures come from ``dose.py`` and ``contamination.py``; this module only turns them into rows
and chart coordinates for the templates.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from fidelity.dashboards import contamination as contamination_figures
from fidelity.dashboards import dose as dose_figures
from fidelity.dashboards import tables
from fidelity.dashboards.forms import PeriodForm
from fidelity.dashboards.tables import per_cent
from fidelity.models import Exposure
from trial import charts, permissions
from trial.models import Site, Trial
from trial.permissions import Perm
from trial.views import trial_view


def _value(value: Any) -> Any:
    """A cell for a template: NaN and NA become None, numpy numbers plain Python."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def rows(frame: pd.DataFrame, key: str = "key") -> list[dict[str, Any]]:
    """The frame as a list of dicts (the index under ``key``); shares also as per cent."""
    result = []
    for index, record in zip(frame.index, frame.to_dict("records"), strict=True):
        row = {key: index, **{name: _value(v) for name, v in record.items()}}
        for name in list(row):
            if "share" in name and name != key:
                row[f"{name}_pct"] = None if row[name] is None else 100 * row[name]
        result.append(row)
    return result


def _period(
    request: HttpRequest, trial: Trial
) -> tuple[PeriodForm, list[Site], dt.date | None, dt.date, list[Site]]:
    """The form, the sites the user may see, and the period and sites chosen."""
    visible = list(permissions.visible_sites(request.user, trial).order_by("code"))
    form = PeriodForm(request.GET or None, sites=visible)
    start, end, covered = None, timezone.localdate(), visible
    if form.is_bound and form.is_valid():
        start = form.cleaned_data["start"]
        end = form.cleaned_data["end"] or end
        if form.cleaned_data["site"]:
            covered = [s for s in visible if s.code == form.cleaned_data["site"]]
    return form, visible, start, end, covered


def _invalid(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    return render(request, template, context, status=400)


@trial_view(Perm.VIEW_DASHBOARD)
@require_GET
def dose(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Dose and reach by arm and by site, and components delivered by arm."""
    permissions.require(request.user, trial, Perm.VIEW_ALLOCATION)
    form, _visible, start, end, sites = _period(request, trial)
    context: dict[str, Any] = {"trial": trial, "form": form, "start": start, "end": end}
    template = "fidelity/dashboard_dose.html"
    if form.is_bound and not form.is_valid():
        return _invalid(request, template, context)

    delivered = dose_figures.delivered_components(trial, sites=sites, start=start, end=end)
    frame = dose_figures.dose_by_participant(
        trial, sites=sites, start=start, end=end, delivered=delivered
    )
    kwargs: dict[str, Any] = {"sites": sites, "start": start, "end": end, "frame": frame}
    by_arm = dose_figures.dose_by_arm(trial, **kwargs)
    arm_table = by_arm.join(
        dose_figures.reach(trial, by="arm", **kwargs).drop(columns="participants")
    )
    arm_table = arm_table.join(
        dose_figures.time_to_first_contact(trial, by="arm", **kwargs).drop(columns="participants")
    )
    by_site = dose_figures.dose_by_site(trial, **kwargs)
    site_table = by_site.join(
        dose_figures.reach(trial, by="site", **kwargs).drop(columns="participants")
    )
    site_table = site_table.join(
        dose_figures.time_to_first_contact(trial, by="site", **kwargs).drop(columns="participants")
    )
    components = dose_figures.components_delivered(
        trial, sites=sites, start=start, end=end, frame=frame, delivered=delivered
    )
    overall = dose_figures.dose_overall(frame)

    arms = list(arm_table.index)
    arm_rows, site_rows = rows(arm_table), rows(site_table)
    figures = _dose_charts(arm_table, site_table, components)
    context.update(
        overall=rows(overall.to_frame().T)[0],
        arm_rows=arm_rows,
        site_rows=site_rows,
        component_rows=_component_rows(components, arms),
        arms=arms,
        charts=figures,
        tables=_dose_tables(arm_rows, site_rows, figures),
    )
    return render(request, template, context)


def _dose_tables(
    arm_rows: list[dict[str, Any]], site_rows: list[dict[str, Any]], figures: dict[str, Any]
) -> dict[str, tables.Table]:
    """The dose page's tables beside their charts: dose and reach by arm, both by site."""
    participants = tables.Column(_("Participants"), "participants")
    contacts = tables.Column(_("Contacts"), "contacts")
    per_month = tables.Column(_("Contacts per month"), "contacts_per_month", 2)
    minutes = tables.Column(_("Minutes per month"), "minutes_per_month", 0)
    reached = tables.Column(per_cent(_("Reached %%")), "reached_share_pct", 1)
    return {
        "arm_dose": tables.table(
            "table-arms",
            _("Dose by arm"),
            _("Arm"),
            [
                participants,
                tables.Column(_("Participant-months"), "follow_months", 1, dash=False),
                contacts,
                per_month,
                minutes,
            ],
            arm_rows,
            head="arm",
            badge=True,
            charts=[(figures["arm_dose"], "chart-arm-dose")],
        ),
        "arm_reach": tables.table(
            "table-arm-reach",
            _("Reach by arm"),
            _("Arm"),
            [
                participants,
                tables.Column(_("Any contact"), "reached"),
                reached,
                tables.Column(_("Intervention-specific component"), "reached_specific"),
                tables.Column(
                    per_cent(_("Specific component %%")), "reached_specific_share_pct", 1
                ),
            ],
            arm_rows,
            head="arm",
            charts=[(figures["arm_reach"], "chart-arm-reach")],
        ),
        "sites": tables.table(
            "table-sites",
            _("Dose and reach by site"),
            _("Site"),
            [
                participants,
                contacts,
                tables.Column(_("Employer contacts"), "employer_contacts"),
                per_month,
                minutes,
                reached,
            ],
            site_rows,
            head="site",
            charts=[(figures["site_dose"], "chart-site-dose")],
        ),
    }


def _dose_charts(
    arm_table: pd.DataFrame, site_table: pd.DataFrame, components: pd.DataFrame
) -> dict[str, Any]:
    """The dose page's charts: dose and reach by arm, dose by site, components by arm."""
    arms = list(arm_table.index)
    arm_labels = [f"{code} {arm_table.loc[code, 'name']}" for code in arms]
    site_codes = list(site_table.index)
    component_names = list(dict.fromkeys(components["component_name"]))
    shares = components.pivot(index="component_name", columns="arm", values="share")
    return {
        "arm_dose": charts.bar_chart(
            arm_labels,
            [
                (_("Contacts"), [_value(v) for v in arm_table["contacts_per_month"]]),
            ],
            title=_("Contacts per participant-month by arm"),
            decimals=2,
        ),
        "arm_reach": charts.bar_chart(
            arm_labels,
            [
                (_("Any contact"), [_value(v) for v in arm_table["reached_share"]]),
                (
                    _("Intervention-specific component"),
                    [_value(v) for v in arm_table["reached_specific_share"]],
                ),
            ],
            title=_("Share of participants reached by arm"),
            percent=True,
            decimals=2,
        ),
        "site_dose": charts.bar_chart(
            site_codes,
            [(_("Contacts"), [_value(v) for v in site_table["contacts_per_month"]])],
            title=_("Contacts per participant-month by site, employer contacts included"),
            decimals=2,
        ),
        "components": charts.bar_chart(
            component_names,
            [
                (
                    arm,
                    [
                        _value(shares.loc[name, arm]) if name in shares.index else None
                        for name in component_names
                    ],
                )
                for arm in arms
            ],
            title=_("Share of each arm's participants who received each component"),
            percent=True,
            decimals=2,
        ),
    }


def _component_rows(components: pd.DataFrame, arms: list[str]) -> list[dict[str, Any]]:
    """One row per component with one cell (received, participants, per cent) per arm."""
    result = []
    for code, group in components.groupby("component", sort=False):
        by_arm = {row["arm"]: row for row in group.to_dict("records")}
        first = group.iloc[0]
        result.append(
            {
                "code": code,
                "name": first["component_name"],
                "intervention_specific": bool(first["intervention_specific"]),
                "cells": [
                    {
                        "received": int(by_arm[arm]["received"]),
                        "participants": int(by_arm[arm]["participants"]),
                        "pct": None
                        if _value(by_arm[arm]["share"]) is None
                        else 100 * by_arm[arm]["share"],
                    }
                    for arm in arms
                ],
            }
        )
    return result


@trial_view(Perm.VIEW_DASHBOARD)
@require_GET
def contamination(request: HttpRequest, trial: Trial) -> HttpResponse:
    """Contamination over time, by site, source and control arm; the sites driving it lately."""
    permissions.require(request.user, trial, Perm.VIEW_ALLOCATION)
    form, _visible, start, end, sites = _period(request, trial)
    context: dict[str, Any] = {
        "trial": trial,
        "form": form,
        "start": start,
        "end": end,
        "weeks": contamination_figures.RECENT_WEEKS,
        # The exposures page is a coordinator's (CONFIGURE_TRIAL); a monitor gets no link to it.
        "can_manage": permissions.has_perm(request.user, trial, Perm.CONFIGURE_TRIAL),
    }
    template = "fidelity/dashboard_contamination.html"
    if form.is_bound and not form.is_valid():
        return _invalid(request, template, context)

    data = contamination_figures.exposure_data(trial, sites=sites, start=start, end=end)
    kwargs: dict[str, Any] = {"sites": sites, "data": data}
    overall = contamination_figures.contamination_overall(trial, **kwargs)
    by_month = contamination_figures.contamination_by_month(trial, **kwargs)
    by_site = contamination_figures.contamination_by_site(trial, **kwargs)
    by_source = contamination_figures.contamination_by_source(trial, **kwargs)
    by_arm = contamination_figures.contamination_by_arm(trial, **kwargs)
    driving = contamination_figures.sites_driving_contamination(trial, **kwargs)
    latest = contamination_figures.latest_exposures(trial, sites=sites, end=end, limit=10)
    source_labels = dict(Exposure.Source.choices)
    figures = _contamination_charts(by_month, by_site, by_source, driving)
    found = {
        "months": rows(by_month),
        "sites": rows(by_site),
        "sources": rows(by_source),
        "arms": rows(by_arm),
        "driving": rows(driving),
    }
    context.update(
        overall=rows(overall.to_frame().T)[0],
        month_rows=found["months"],
        site_rows=found["sites"],
        source_rows=found["sources"],
        arm_rows=found["arms"],
        driving_rows=found["driving"],
        latest_rows=[
            {**row, "source_label": source_labels.get(row["source"], row["source"])}
            for row in rows(latest)
        ],
        charts=figures,
        tables=_contamination_tables(found, figures),
    )
    return render(request, template, context)


def _contamination_charts(
    by_month: pd.DataFrame, by_site: pd.DataFrame, by_source: pd.DataFrame, driving: pd.DataFrame
) -> dict[str, Any]:
    """The contamination page's charts: over time, the sites driving it, by site and source."""
    months = list(by_month.index)
    return {
        "share": charts.line_chart(
            months,
            [(_("Exposed"), [_value(v) for v in by_month["cumulative_share"]])],
            title=_("Share of control participants exposed so far, by month"),
            percent=True,
            decimals=2,
        ),
        "events": charts.column_chart(
            months,
            [_value(v) for v in by_month["events"]],
            title=_("Exposure events by month"),
        ),
        "driving": charts.bar_chart(
            list(driving.index),
            [(_("Events"), [_value(v) for v in driving["recent_events"]])],
            title=_("Exposure events in the last %(weeks)s weeks by site")
            % {"weeks": contamination_figures.RECENT_WEEKS},
            decimals=0,
        ),
        "sites": charts.bar_chart(
            list(by_site.index),
            [(_("Exposed"), [_value(v) for v in by_site["share_exposed"]])],
            title=_("Share of control participants exposed by site"),
            percent=True,
            decimals=2,
        ),
        "sources": charts.bar_chart(
            [str(label) for label in by_source["label"]],
            [(_("Events"), [_value(v) for v in by_source["events"]])],
            title=_("Exposure events by source"),
            decimals=0,
        ),
    }


def _contamination_tables(
    found: dict[str, list[dict[str, Any]]], figures: dict[str, Any]
) -> dict[str, tables.Table]:
    """The contamination page's tables, beside their charts (the arms' table stands alone)."""
    weeks = contamination_figures.RECENT_WEEKS
    events = tables.Column(_("Events"), "events")
    controls = tables.Column(_("Control participants"), "controls")
    exposed = tables.Column(_("Exposed"), "exposed")
    exposed_pct = tables.Column(per_cent(_("Exposed %%")), "share_exposed_pct", 1)
    return {
        "months": tables.table(
            "table-months",
            _("Contamination by month"),
            _("Month"),
            [
                events,
                tables.Column(_("Newly exposed"), "new_exposed"),
                tables.Column(_("Exposed so far"), "cumulative_exposed"),
                controls,
                tables.Column(per_cent(_("Exposed %%")), "cumulative_share_pct", 1),
            ],
            found["months"],
            charts=[(figures["share"], "chart-share"), (figures["events"], "chart-events")],
        ),
        "driving": tables.table(
            "table-driving",
            _("Sites ranked by exposure events in the last %(weeks)s weeks") % {"weeks": weeks},
            _("Site"),
            [
                tables.Column(_("Events"), "recent_events"),
                tables.Column(
                    per_cent(_("Share of events %%")), "share_of_recent_pct", 1, dash=False
                ),
                tables.Column(_("Newly exposed"), "recent_exposed"),
                tables.Column(_("Events in the period"), "events"),
            ],
            found["driving"],
            head="site",
            charts=[(figures["driving"], "chart-driving")],
        ),
        "sites": tables.table(
            "table-sites",
            _("Contamination by site"),
            _("Site"),
            [
                controls,
                exposed,
                exposed_pct,
                events,
                tables.Column(_("Site-level events"), "site_events"),
            ],
            found["sites"],
            head="site",
            charts=[(figures["sites"], "chart-sites")],
        ),
        "sources": tables.table(
            "table-sources",
            _("Contamination by source"),
            _("Source"),
            [
                events,
                tables.Column(_("Participants exposed"), "exposed"),
                tables.Column(per_cent(_("Of control participants %%")), "share_exposed_pct", 1),
            ],
            found["sources"],
            key="label",
            charts=[(figures["sources"], "chart-sources")],
        ),
        "arms": tables.table(
            "table-arms",
            _("Contamination by control arm"),
            _("Arm"),
            [controls, exposed, exposed_pct],
            found["arms"],
            head="arm",
        ),
    }
