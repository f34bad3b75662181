"""Adaptations for the demo trial (called from ``demo.seed``), noted through the audited
service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fidelity.adaptations.services import record_adaptation
from fidelity.models import Component
from trial.models import Trial

# (site code or None for the whole trial, days before the demo date, component code, text)
DEMO_ADAPTATIONS = [
    (
        None,
        520,
        "integrated_care",
        "Mental-health teams joined the weekly IPS meetings by video instead of in person at "
        "offices more than an hour's travel away.",
    ),
    (
        "TRD",
        400,
        "job_development",
        "Employer visits paused for six weeks while one of two employment specialists was on "
        "leave; the other kept up follow-along support only.",
    ),
    (
        "HMR",
        250,
        "rapid_search",
        "First employer contact within four weeks instead of two: the office has few "
        "employers within reach, so searches were planned together with the participant first.",
    ),
    (
        "BGO",
        120,
        None,
        "Caseload per employment specialist raised from 20 to 25 after a vacancy; restored "
        "after three months.",
    ),
]


def seed_adaptations(trial: Trial, *, actor: Any, as_of: dt.date) -> None:
    """A few adaptations of the intervention, noted through the audited service."""
    sites = {site.code: site for site in trial.sites.all()}
    components = {c.code: c for c in Component.objects.filter(trial=trial)}
    for site_code, days, component_code, text in DEMO_ADAPTATIONS:
        if site_code is not None and site_code not in sites:
            continue
        record_adaptation(
            trial,
            site=sites.get(site_code) if site_code else None,
            adapted_on=as_of - dt.timedelta(days=days),
            component=components.get(component_code) if component_code else None,
            description=text,
            actor=actor,
        )
