"""Hooks through which apps built on ``trial`` add to its pages, so ``trial`` imports none of them.

``randomisation`` adds the allocation panel and allocation events to the participant page;
``fidelity`` adds contacts. Apps add entries to the trial menu (in a group of ``NAV_GROUPS``)
and panels to a member's landing page (``register_landing_panel``). Each app registers its
hooks in its ``AppConfig.ready``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from trial.models import Participant

if TYPE_CHECKING:
    from trial.models import Trial


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a participant, for the participant page's timeline."""

    day: dt.date
    kind: str
    """A short machine name (``screening``, ``allocation``, ``contact``…), used as CSS class."""
    title: str
    detail: str = ""
    at: dt.datetime | None = None
    """When it was recorded, to order events of the same day."""
    url: str = ""


@dataclass(frozen=True)
class Panel:
    """A block of the participant page: a template and its context (available as ``panel``)."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 50


TimelineSource = Callable[[HttpRequest, Participant], Iterable[TimelineEntry]]
PanelSource = Callable[[HttpRequest, Participant], Panel | None]


# The trial menu's groups, by task, in menu order: the menu shows the groups, and under them
# the entries of the group the current page is in. A NavItem names its group by key.
NAV_GROUPS: dict[str, Any] = {
    "overview": _("Overview"),
    "participants": _("Participants"),
    "follow_up": _("Follow-up"),
    "randomisation": _("Randomisation"),
    "fidelity": _("Fidelity"),
    "reports": _("Reports"),
    "data": _("Data"),
    "setup": _("Set-up"),
    "other": _("More"),
}


@dataclass(frozen=True)
class NavItem:
    """An entry of the trial menu: shown to members holding ``perm`` and every permission in
    ``also`` (``Perm`` values), the same rights the page itself checks, in the group ``group``
    (a key of ``NAV_GROUPS``), ordered by ``order`` within it."""

    label: Any
    url_name: str
    perm: str
    order: int = 50
    also: tuple[str, ...] = ()
    group: str = "other"


_timeline_sources: list[TimelineSource] = []
_panel_sources: list[PanelSource] = []
_nav_items: list[NavItem] = []


def register_nav_item(*items: NavItem) -> None:
    for item in items:
        if item.group not in NAV_GROUPS:
            raise ValueError(
                f"Unknown menu group {item.group!r}; the groups are {list(NAV_GROUPS)}"
            )
        if item not in _nav_items:
            _nav_items.append(item)


def nav_items() -> list[NavItem]:
    return sorted(_nav_items, key=lambda item: item.order)


# A member's landing page (trial.views.dashboard for those whose landing is their own work, see
# trial.permissions.landing) is made of panels: each source returns one for the request's user,
# or None when it has nothing for them (it checks the permissions its content needs).
LandingSource = Callable[[HttpRequest, "Trial"], "Panel | None"]
_landing_sources: list[LandingSource] = []


def register_landing_panel(source: LandingSource) -> LandingSource:
    if source not in _landing_sources:
        _landing_sources.append(source)
    return source


def landing_panels(request: HttpRequest, trial: Trial) -> list[Panel]:
    panels = [panel for source in _landing_sources if (panel := source(request, trial))]
    return sorted(panels, key=lambda panel: panel.order)


def register_timeline(source: TimelineSource) -> TimelineSource:
    if source not in _timeline_sources:
        _timeline_sources.append(source)
    return source


def register_participant_panel(source: PanelSource) -> PanelSource:
    if source not in _panel_sources:
        _panel_sources.append(source)
    return source


def timeline_entries(request: HttpRequest, participant: Participant) -> list[TimelineEntry]:
    entries = [entry for source in _timeline_sources for entry in source(request, participant)]
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(entries, key=lambda e: (e.day, e.at or far_past))


def participant_panels(request: HttpRequest, participant: Participant) -> list[Panel]:
    panels = [panel for source in _panel_sources if (panel := source(request, participant))]
    return sorted(panels, key=lambda panel: panel.order)


# Called by instruments.services.record_assessment inside its transaction, with the saved
# assessment (an ``instruments.models.Assessment``: one instrument's answers at a visit, whose
# ``visit.contamination_reported`` holds the visit's contamination answer) and the actor:
# ``fidelity`` records a contamination exposure from the contamination question. ``trial``
# does not import ``instruments``, so the assessment is typed loosely here.
AssessmentListener = Callable[..., object]
_assessment_listeners: list[AssessmentListener] = []


def register_assessment_listener(listener: AssessmentListener) -> AssessmentListener:
    if listener not in _assessment_listeners:
        _assessment_listeners.append(listener)
    return listener


def assessment_recorded(assessment: Any, *, actor: Any) -> None:
    """Tell the registered apps about a new assessment (inside the recording transaction)."""
    for listener in _assessment_listeners:
        listener(assessment, actor=actor)


# The worklist's visits, annotated by apps built on trial: each source maps visit ids to a short
# note shown under the visit's status (``surveys``: "invited 3 days ago, reminded once, not
# answered"). One call per page of visits, so a source reads them in one query.
WorklistSource = Callable[[HttpRequest, list[Any]], dict[int, str]]
_worklist_sources: list[WorklistSource] = []


def register_worklist_notes(source: WorklistSource) -> WorklistSource:
    if source not in _worklist_sources:
        _worklist_sources.append(source)
    return source


def worklist_notes(request: HttpRequest, visits: list[Any]) -> dict[int, list[str]]:
    notes: dict[int, list[str]] = {}
    for source in _worklist_sources:
        for visit_id, note in source(request, visits).items():
            notes.setdefault(visit_id, []).append(note)
    return notes
