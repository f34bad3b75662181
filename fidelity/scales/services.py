"""Fidelity scales: the shipped templates, defining a scale, its levels, bands and items.

Every write checks its input completely before it writes anything, runs in one transaction
and audits in it, so a refused submission leaves nothing half-saved. A scale that a review has
used is never changed: editing it makes a new version, so every review keeps the exact scale it
was scored on. The figures of a set of scores are in ``scoring.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from fidelity.models import Scale, ScaleItem
from trial import audit
from trial.models import Trial
from trial.services import TrialError

DATA = Path(__file__).resolve().parent.parent / "data"
TEMPLATES = {"ips25": "ips25.json"}
"""Scale templates shipped with the system, by key: files in fidelity/data/."""


class ScaleError(TrialError):
    """A scale, review or score submission broke a rule.

    ``errors`` maps item numbers to their message when the fault is in particular items.
    """

    def __init__(
        self, message: str, field: str | None = None, errors: Mapping[int, str] | None = None
    ) -> None:
        super().__init__(message, field)
        self.errors = dict(errors or {})


@cache
def load_template(key: str) -> dict[str, Any]:
    """The template's JSON document (see fidelity/data/)."""
    if key not in TEMPLATES:
        raise ScaleError(_("Unknown scale template."))
    with open(DATA / TEMPLATES[key], encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


def check_bands(bands: Sequence[Mapping[str, Any]], low: int, high: int) -> list[dict[str, Any]]:
    """Bands as stored (highest first), after checking each lies inside ``low``–``high`` and
    none overlap. Raise ScaleError(field="bands") otherwise."""
    clean: list[dict[str, Any]] = []
    for band in bands:
        try:
            start, end, label = int(band["min"]), int(band["max"]), str(band["label"]).strip()
        except (KeyError, TypeError, ValueError):
            raise ScaleError(
                _("Each band needs a lowest total, a highest total and a label."), field="bands"
            ) from None
        if not label or start > end:
            raise ScaleError(
                _("Each band needs a label and a lowest total not above its highest."),
                field="bands",
            )
        clean.append({"min": start, "max": end, "label": label})
    clean.sort(key=lambda band: int(band["min"]), reverse=True)
    for upper, lower in pairwise(clean):
        if lower["max"] >= upper["min"]:
            raise ScaleError(
                _("The bands %(a)s and %(b)s overlap.")
                % {"a": lower["label"], "b": upper["label"]},
                field="bands",
            )
    if clean and (clean[-1]["min"] < low or clean[0]["max"] > high):
        raise ScaleError(
            _("Bands must lie within the possible totals, %(low)s to %(high)s.")
            % {"low": low, "high": high},
            field="bands",
        )
    return clean


def _check_scale_fields(trial: Trial, values: dict[str, Any], exclude: int | None) -> None:
    name, version = values["name"].strip(), values["version"].strip()
    if not name or not version:
        raise ScaleError(_("Give the scale a name and a version."), field="name")
    if values["min_level"] >= values["max_level"]:
        raise ScaleError(_("The highest level must be above the lowest."), field="max_level")
    clash = Scale.objects.filter(trial=trial, name=name, version=version)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise ScaleError(
            _("This trial already has version %(version)s of this scale.") % {"version": version},
            field="version",
        )


def add_template_scale(trial: Trial, key: str = "ips25", *, actor: User) -> Scale:
    """Copy a shipped template (the IPS-25 scale by default) into the trial.

    Raises ScaleError if the trial already has that version. Not repeatable: a second call
    is refused rather than adding a duplicate.
    """
    document = load_template(key)
    with transaction.atomic():
        if Scale.objects.filter(
            trial=trial, name=document["name"], version=document["version"]
        ).exists():
            raise ScaleError(_("This trial already has this scale."))
        scale = Scale.objects.create(
            trial=trial,
            name=document["name"],
            version=document["version"],
            source=document.get("source", ""),
            notes=document.get("notes", ""),
            min_level=document["min_level"],
            max_level=document["max_level"],
            bands=document["bands"],
            template=key,
        )
        ScaleItem.objects.bulk_create(
            ScaleItem(
                scale=scale,
                number=item["number"],
                section=item.get("section", ""),
                title=item["title"],
                description=item.get("description", ""),
                anchors=item.get("anchors", {}),
            )
            for item in document["items"]
        )
        audit.record(
            "scale.added_from_template",
            scale,
            actor=actor,
            trial=trial,
            data={"template": key, "version": scale.version},
        )
    return scale


def create_scale(
    trial: Trial,
    *,
    actor: User,
    name: str,
    version: str,
    source: str = "",
    notes: str = "",
    min_level: int = 1,
    max_level: int = 5,
    bands: Sequence[Mapping[str, Any]] = (),
) -> Scale:
    """A new scale without items (add them with :func:`save_item`). Raises ScaleError."""
    values = {"name": name, "version": version, "min_level": min_level, "max_level": max_level}
    _check_scale_fields(trial, values, exclude=None)
    # Items come later, so bands are checked against levels only; totals are checked again
    # whenever a review is summarised (a total outside every band has no band).
    clean_bands = check_bands(bands, 0, 10_000)
    with transaction.atomic():
        scale = Scale.objects.create(
            trial=trial,
            name=name.strip(),
            version=version.strip(),
            source=source.strip(),
            notes=notes.strip(),
            min_level=min_level,
            max_level=max_level,
            bands=clean_bands,
        )
        audit.record_created(scale, actor=actor)
    return scale


def _copy_as_new_version(scale: Scale, version: str) -> Scale:
    items = list(scale.items.all())
    new = Scale.objects.create(
        trial=scale.trial,
        name=scale.name,
        version=version,
        source=scale.source,
        notes=scale.notes,
        min_level=scale.min_level,
        max_level=scale.max_level,
        bands=scale.bands,
        template=scale.template,
        previous=scale,
    )
    ScaleItem.objects.bulk_create(
        ScaleItem(
            scale=new,
            number=i.number,
            section=i.section,
            title=i.title,
            description=i.description,
            anchors=i.anchors,
        )
        for i in items
    )
    return new


def next_version_label(scale: Scale) -> str:
    """A free version label for a revision of ``scale``: '<version> rev. N'."""
    base = scale.version.split(" rev. ")[0]
    taken = set(
        Scale.objects.filter(trial=scale.trial, name=scale.name).values_list("version", flat=True)
    )
    n = 2
    while f"{base} rev. {n}" in taken:
        n += 1
    return f"{base} rev. {n}"


def _editable(scale: Scale, version: str | None = None) -> tuple[Scale, bool]:
    """The scale to write to: itself if no review used it, else a new version (created)."""
    locked = Scale.objects.select_for_update().get(pk=scale.pk)
    if not locked.reviews.exists():
        return locked, False
    label = version if version and version != locked.version else next_version_label(locked)
    if Scale.objects.filter(trial=locked.trial, name=locked.name, version=label).exists():
        raise ScaleError(
            _("This trial already has version %(version)s of this scale.") % {"version": label},
            field="version",
        )
    return _copy_as_new_version(locked, label), True


def update_scale(
    scale: Scale,
    *,
    actor: User,
    name: str,
    version: str,
    source: str,
    notes: str,
    min_level: int,
    max_level: int,
    bands: Sequence[Mapping[str, Any]],
) -> tuple[Scale, bool]:
    """Change a scale's description, levels or bands.

    Returns (the scale changed, whether it is a new version). A scale used by a review is
    left as it was and the change goes into a new version (the given version label if it is
    new, else '<version> rev. N'). Raises ScaleError; nothing is written then.
    """
    values = {"name": name, "version": version, "min_level": min_level, "max_level": max_level}
    with transaction.atomic():
        target, is_new = _editable(scale, version.strip())
        label = target.version if is_new else version
        _check_scale_fields(scale.trial, {**values, "version": label}, exclude=target.pk)
        if target.items.exists() and (
            min_level != target.min_level or max_level != target.max_level
        ):
            for item in target.items.all():
                item.anchors = {
                    str(level): item.anchors.get(str(level), "")
                    for level in range(min_level, max_level + 1)
                }
                item.save(update_fields=["anchors"])
        before = audit.snapshot(target)
        target.name = name.strip()
        if not is_new:
            target.version = version.strip()
        target.source = source.strip()
        target.notes = notes.strip()
        target.min_level, target.max_level = min_level, max_level
        count = target.items.count()
        low, high = target.total_range(count) if count else (0, 10_000)
        target.bands = check_bands(bands, low, high)
        target.save()
        if is_new:
            audit.record(
                "scale.new_version",
                target,
                actor=actor,
                trial=target.trial,
                data={"previous": scale.pk, "after": audit.snapshot(target)},
            )
        else:
            audit.record_changed(target, before, actor=actor)
    return target, is_new


def save_item(
    scale: Scale,
    *,
    actor: User,
    item: ScaleItem | None,
    number: int,
    section: str,
    title: str,
    description: str,
    anchors: Mapping[Any, str],
) -> tuple[ScaleItem, bool]:
    """Add an item to a scale, or change one (``item``).

    Every level of the scale needs an anchor. Returns (the item, whether a new version of
    the scale was made because reviews used this one). Raises ScaleError.
    """
    clean_anchors = {
        str(level): str(anchors.get(level, anchors.get(str(level), ""))).strip()
        for level in scale.levels
    }
    missing = [level for level, text in clean_anchors.items() if not text]
    if missing:
        raise ScaleError(
            _("Describe every level; missing: %(levels)s.") % {"levels": ", ".join(missing)},
            field="anchors",
        )
    if not title.strip():
        raise ScaleError(_("Give the item a title."), field="title")
    if number < 1:
        raise ScaleError(_("Number the items from 1."), field="number")
    with transaction.atomic():
        target, is_new = _editable(scale)
        current = None
        if item is not None:
            current = target.items.get(number=item.number) if is_new else item
        if target.items.filter(number=number).exclude(pk=current.pk if current else None).exists():  # type: ignore[misc]  # None excludes nothing
            raise ScaleError(_("Another item has this number."), field="number")
        if current is None:
            current = ScaleItem(scale=target)
            before = None
        else:
            before = audit.snapshot(current)
        current.number = number
        current.section = section.strip()
        current.title = title.strip()
        current.description = description.strip()
        current.anchors = clean_anchors
        current.save()
        if is_new:
            audit.record(
                "scale.new_version",
                target,
                actor=actor,
                trial=target.trial,
                data={"previous": scale.pk, "item": number},
            )
        after = audit.snapshot(current)
        if before is None:
            audit.record(
                "scaleitem.created", current, actor=actor, trial=target.trial, data={"after": after}
            )
        elif diff := audit.changes(before, after):
            audit.record(
                "scaleitem.changed",
                current,
                actor=actor,
                trial=target.trial,
                data={"changes": diff},
            )
    return current, is_new
