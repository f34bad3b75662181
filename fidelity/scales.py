"""Fidelity scales and reviews: the rules, the writes and the computed figures.

Every write checks its input completely before it writes anything, runs in one transaction
and audits in it, so a refused submission leaves nothing half-saved. Totals, section
subtotals and bands are computed here from the stored scores; nothing typed by a user is a
total. A scale that a review has used is never changed: editing it makes a new version.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fidelity import agreement
from fidelity.models import ConsensusScore, Review, ReviewerScore, Scale, ScaleItem
from trial import audit, permissions
from trial.models import Site, Trial
from trial.permissions import Perm
from trial.services import TrialError

DATA = Path(__file__).resolve().parent / "data"
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


# Scales


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


def _total_range(scale: Scale, item_count: int) -> tuple[int, int]:
    return item_count * scale.min_level, item_count * scale.max_level


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
        low, high = _total_range(target, count) if count else (0, 10_000)
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


# Reviews


def eligible_reviewers(trial: Trial) -> list[User]:
    """Members who may score fidelity in the trial (hold REVIEW_FIDELITY)."""
    members = trial.memberships.select_related("user").order_by("user__username")
    return [
        m.user
        for m in members
        if Perm.REVIEW_FIDELITY in permissions.perms_for(m) and m.user.is_active
    ]


def create_review(
    trial: Trial,
    *,
    actor: User,
    site: Site,
    scale: Scale,
    review_date: dt.date,
    reviewers: Iterable[User],
) -> Review:
    """Plan a review of ``site`` on ``review_date`` by ``reviewers`` with ``scale``.

    Reviewers must hold the fidelity-review right; the scale needs items. Raises ScaleError.
    """
    chosen = list(dict.fromkeys(reviewers))
    if site.trial_id != trial.pk:
        raise ScaleError(_("Unknown site."), field="site")
    if scale.trial_id != trial.pk:
        raise ScaleError(_("Unknown scale."), field="scale")
    if not scale.items.exists():
        raise ScaleError(_("This scale has no items yet."), field="scale")
    if review_date > timezone.localdate() + dt.timedelta(days=366):
        raise ScaleError(_("Plan reviews at most a year ahead."), field="review_date")
    if not chosen:
        raise ScaleError(_("Choose at least one reviewer."), field="reviewers")
    allowed = {u.pk for u in eligible_reviewers(trial)}
    if any(u.pk not in allowed for u in chosen):
        raise ScaleError(
            _("Every reviewer must be a fidelity reviewer in this trial."), field="reviewers"
        )
    with transaction.atomic():
        if Review.objects.filter(site=site, scale=scale, review_date=review_date).exists():
            raise ScaleError(
                _("This site already has a review with this scale on that date."),
                field="review_date",
            )
        review = Review.objects.create(
            trial=trial, site=site, scale=scale, review_date=review_date, created_by=actor
        )
        review.reviewers.set(chosen)
        audit.record(
            "review.created",
            review,
            actor=actor,
            trial=trial,
            data={"after": {**audit.snapshot(review), "reviewers": sorted(u.pk for u in chosen)}},
        )
    return review


def clean_scores(
    items: Sequence[ScaleItem], scale: Scale, raw: Mapping[Any, Any], *, draft: bool = False
) -> dict[int, int]:
    """{item number: score} from submitted values keyed by item number (int or str).

    Every item needs a whole-number score among the scale's levels; with ``draft`` an item
    may also be left blank (absent, None or ""), and is then left out: blank stays blank,
    never zero. Unknown item numbers are refused. Raises ScaleError with one message per
    item at fault.
    """
    given = {str(key): value for key, value in raw.items()}
    known = {str(item.number) for item in items}
    errors: dict[int, str] = {}
    scores: dict[int, int] = {}
    for item in items:
        value = given.get(str(item.number))
        if value is None or value == "":
            if not draft:
                errors[item.number] = _("Score this item.")
            continue
        try:
            score = int(value)
            if isinstance(value, bool) or str(score) != str(value).strip():
                raise ValueError
        except (TypeError, ValueError):
            errors[item.number] = _("A score is a whole number.")
            continue
        if score not in scale.levels:
            errors[item.number] = _("Choose a level from %(low)s to %(high)s.") % {
                "low": scale.min_level,
                "high": scale.max_level,
            }
            continue
        scores[item.number] = score
    unknown = sorted(set(given) - known)
    if unknown:
        raise ScaleError(
            _("Unknown items: %(items)s.") % {"items": ", ".join(unknown)}, field="scores"
        )
    if errors:
        raise ScaleError(
            ngettext(
                "%(count)s item needs a valid score; nothing was saved.",
                "%(count)s items need a valid score; nothing was saved.",
                len(errors),
            )
            % {"count": len(errors)},
            field="scores",
            errors=errors,
        )
    return scores


def _lock(review: Review) -> Review:
    return (
        Review.objects.select_for_update()
        .select_related("scale", "trial", "site")
        .get(pk=review.pk)
    )


def submit_scores(
    review: Review, *, actor: User, scores: Mapping[Any, Any], draft: bool = False
) -> Review:
    """Store (or replace) the actor's independent scores for the items of the review.

    Only the review's reviewers, and only before any consensus score is recorded. Without
    ``draft`` every item needs a score; with it, items left blank stay unscored (a draft the
    reviewer finishes later), and a blank given for an item scored before clears it. A given
    score must still be one of the scale's levels. The review is "scored independently" while
    every reviewer has scored every item, and "awaiting reviewers' scores" otherwise. All or
    nothing; raises ScaleError. Safe to repeat: the same submission twice leaves the same
    scores.
    """
    with transaction.atomic():
        review = _lock(review)
        if not review.reviewers.filter(pk=actor.pk).exists():
            raise ScaleError(_("You are not a reviewer of this review."))
        if (
            review.status not in (Review.Status.DRAFT, Review.Status.SCORED)
            or review.consensus_scores.exists()
        ):
            raise ScaleError(
                _("The consensus is recorded: independent scores can no longer change.")
            )
        items = list(review.scale.items.all())
        clean = clean_scores(items, review.scale, scores, draft=draft)
        by_number = {item.number: item for item in items}
        existing = {
            s.item.number: s.score
            for s in ReviewerScore.objects.filter(review=review, reviewer=actor).select_related(
                "item"
            )
        }
        ReviewerScore.objects.filter(review=review, reviewer=actor).delete()
        ReviewerScore.objects.bulk_create(
            ReviewerScore(review=review, reviewer=actor, item=by_number[n], score=s)
            for n, s in clean.items()
        )
        complete = (
            ReviewerScore.objects.filter(review=review)
            .values("reviewer")
            .annotate(n=Count("id"))
            .filter(n=len(items))
            .count()
        )
        status = (
            Review.Status.SCORED if complete == review.reviewers.count() else Review.Status.DRAFT
        )
        if status != review.status:
            review.status = status
            review.save(update_fields=["status"])
        changed = {
            str(n): [existing.get(n), clean.get(n)]
            for n in sorted(existing.keys() | clean.keys())
            if existing.get(n) != clean.get(n)
        }
        audit.record(
            "review.scored" if not existing else "review.rescored",
            review,
            actor=actor,
            trial=review.trial,
            data={
                "reviewer": actor.get_username(),
                "scores": changed,
                "scored": len(clean),
                "items": len(items),
                "status": review.status,
            },
        )
    return review


def record_consensus(
    review: Review, *, actor: User, scores: Mapping[Any, Any], draft: bool = False
) -> Review:
    """Store the consensus score of the review's items, after all reviewers have scored.

    Without ``draft`` every item needs a score; with it, items left blank stay without a
    consensus (the reviewers finish later, and a blank clears an earlier one). The review is
    "consensus recorded" once every item has a consensus score, and only then can it be
    finalised; until then it stays "scored independently". May be corrected until the review
    is finalised. All or nothing; raises ScaleError.
    """
    with transaction.atomic():
        review = _lock(review)
        if review.status not in (Review.Status.SCORED, Review.Status.CONSENSUS):
            raise ScaleError(
                _(
                    "The consensus can be recorded once every reviewer has scored, and not "
                    "after the review is finalised."
                )
            )
        items = list(review.scale.items.all())
        clean = clean_scores(items, review.scale, scores, draft=draft)
        by_number = {item.number: item for item in items}
        existing = {
            s.item.number: s.score
            for s in ConsensusScore.objects.filter(review=review).select_related("item")
        }
        ConsensusScore.objects.filter(review=review).delete()
        ConsensusScore.objects.bulk_create(
            ConsensusScore(review=review, item=by_number[n], score=s) for n, s in clean.items()
        )
        review.status = (
            Review.Status.CONSENSUS if len(clean) == len(items) else Review.Status.SCORED
        )
        review.save(update_fields=["status"])
        summary = summarise(review.scale, items, clean)
        audit.record(
            "review.consensus",
            review,
            actor=actor,
            trial=review.trial,
            data={
                "scores": {
                    str(n): [existing.get(n), clean.get(n)]
                    for n in sorted(existing.keys() | clean.keys())
                    if existing.get(n) != clean.get(n)
                },
                "scored": len(clean),
                "items": len(items),
                "total": summary.total,
                "band": summary.band,
            },
        )
    return review


def finalise_review(review: Review, *, actor: User) -> Review:
    """Lock a review whose every item has a consensus score: no score changes afterwards.

    Raises ScaleError for a review without a complete consensus, or one finalised already.
    """
    with transaction.atomic():
        review = _lock(review)
        scored = review.consensus_scores.count()
        if review.status != Review.Status.CONSENSUS or scored != review.scale.items.count():
            raise ScaleError(
                _("Only a review with a consensus score for every item can be finalised.")
            )
        review.status = Review.Status.FINALISED
        review.save(update_fields=["status"])
        audit.record(
            "review.finalised",
            review,
            actor=actor,
            trial=review.trial,
            data={"status": [Review.Status.CONSENSUS, Review.Status.FINALISED]},
        )
    return review


# Figures


@dataclass(frozen=True)
class SectionTotal:
    name: str
    total: int
    items: int
    maximum: int
    minimum: int


@dataclass(frozen=True)
class Summary:
    """Total, band and section subtotals of one set of item scores."""

    total: int | None
    """None unless every item has a score."""
    band: str | None
    minimum: int
    maximum: int
    sections: list[SectionTotal]
    scored: int
    items: int


def band_for(bands: Sequence[Mapping[str, Any]], total: int | None) -> str | None:
    if total is None:
        return None
    for band in bands:
        if int(band["min"]) <= total <= int(band["max"]):
            return str(band["label"])
    return None


def sections_of(items: Sequence[ScaleItem]) -> list[str]:
    """Section names in the order of their first item."""
    return list(dict.fromkeys(item.section for item in sorted(items, key=lambda i: i.number)))


def summarise(scale: Scale, items: Sequence[ScaleItem], scores: Mapping[int, int]) -> Summary:
    """Total, band and per-section subtotals of ``scores`` ({item number: score}).

    Subtotals add the scored items of each section; the total and band need every item.
    """
    sections = []
    for name in sections_of(items):
        members = [i for i in items if i.section == name]
        sections.append(
            SectionTotal(
                name=name,
                total=sum(scores[i.number] for i in members if i.number in scores),
                items=len(members),
                minimum=len(members) * scale.min_level,
                maximum=len(members) * scale.max_level,
            )
        )
    complete = bool(items) and all(i.number in scores for i in items)
    total = sum(scores[i.number] for i in items) if complete else None
    return Summary(
        total=total,
        band=band_for(scale.bands, total),
        minimum=len(items) * scale.min_level,
        maximum=len(items) * scale.max_level,
        sections=sections,
        scored=sum(1 for i in items if i.number in scores),
        items=len(items),
    )


@dataclass
class ReviewerColumn:
    user_id: int
    name: str
    scores: dict[int, int]
    summary: Summary


@dataclass
class ReviewView:
    """Everything a review page or the API shows, computed once."""

    review: Review
    items: list[ScaleItem]
    reviewers: list[ReviewerColumn]
    waiting_for: list[str]
    consensus: dict[int, int]
    summary: Summary | None
    agreement: agreement.ReviewAgreement
    proposal: dict[int, int] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


def _display_name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def review_view(review: Review) -> ReviewView:
    """The review's scores by reviewer and consensus, with totals, bands and agreement.

    ``proposal`` prefills the consensus form: the agreed score where reviewers agree, the
    median where it is a level, nothing where the reviewers must decide.
    """
    scale = review.scale
    items = list(scale.items.all())
    reviewers = list(review.reviewers.order_by("username"))
    scores: dict[int, dict[int, int]] = {u.pk: {} for u in reviewers}
    for row in ReviewerScore.objects.filter(review=review).values(
        "reviewer_id", "item__number", "score"
    ):
        scores.setdefault(row["reviewer_id"], {})[row["item__number"]] = row["score"]
    columns = [
        ReviewerColumn(
            user_id=u.pk,
            name=_display_name(u),
            scores=scores[u.pk],
            summary=summarise(scale, items, scores[u.pk]),
        )
        for u in reviewers
    ]
    consensus = dict(
        ConsensusScore.objects.filter(review=review).values_list("item__number", "score")
    )
    complete = [c.scores for c in columns if len(c.scores) == len(items)]
    result = ReviewView(
        review=review,
        items=items,
        reviewers=columns,
        waiting_for=[c.name for c in columns if len(c.scores) < len(items)],
        consensus=consensus,
        summary=summarise(scale, items, consensus) if consensus else None,
        agreement=agreement.review_agreement(complete, scale.levels),
    )
    per_item = {a.number: a for a in result.agreement.items}
    for item in items:
        given = [c.scores[item.number] for c in columns if item.number in c.scores]
        if given:
            median = statistics.median(given)
            if median == int(median):
                result.proposal[item.number] = int(median)
        result.rows.append(
            {
                "item": item,
                "scores": [c.scores.get(item.number) for c in columns],
                "agreement": per_item.get(item.number),
                "consensus": consensus.get(item.number),
                "proposal": consensus.get(item.number, result.proposal.get(item.number)),
            }
        )
    return result


# Site trends


@dataclass
class TrendPoint:
    review: Review
    total: int
    band: str | None
    x: float = 0
    y: float = 0


@dataclass
class BandLine:
    label: str
    value: int
    y: float


@dataclass
class SiteTrend:
    site: Site
    points: list[TrendPoint]
    maximum: int
    minimum: int
    band_lines: list[BandLine]
    item_rows: list[dict[str, Any]]
    ticks: list[BandLine] = field(default_factory=list)
    """Labels on the vertical axis: band floors, and the lowest and highest possible totals
    where they do not crowd a band floor."""
    width: int = 440
    height: int = 160
    left: int = 34
    right: int = 300
    """The plot ends here; band labels are written to its right."""
    top: int = 12
    bottom: int = 132
    path: str = ""

    @property
    def latest(self) -> TrendPoint | None:
        return self.points[-1] if self.points else None

    @property
    def change(self) -> int | None:
        if len(self.points) < 2:
            return None
        return self.points[-1].total - self.points[0].total


def heat_level(score: int | None, low: int, high: int) -> int | None:
    """1..5: where ``score`` lies between the scale's lowest and highest level (CSS class)."""
    if score is None:
        return None
    return 1 + round(4 * (score - low) / (high - low))


def site_trends(trial: Trial, sites: Iterable[Site]) -> list[SiteTrend]:
    """For each site, the consensus totals of its reviews over time with chart coordinates,
    and an item × review-date table of consensus scores (heat levels 1–5).

    Reviews without a complete consensus are left out. Three queries in all.
    """
    site_list = list(sites)
    reviews = list(
        Review.objects.filter(
            trial=trial,
            site__in=site_list,
            status__in=[Review.Status.CONSENSUS, Review.Status.FINALISED],
        )
        .select_related("scale", "site")
        .order_by("site__code", "review_date")
    )
    scale_ids = {r.scale_id for r in reviews}
    items_by_scale: dict[int, list[ScaleItem]] = {}
    for item in ScaleItem.objects.filter(scale_id__in=scale_ids).order_by("number"):
        items_by_scale.setdefault(item.scale_id, []).append(item)
    consensus: dict[int, dict[int, int]] = {}
    for row in ConsensusScore.objects.filter(review__in=reviews).values(
        "review_id", "item__number", "score"
    ):
        consensus.setdefault(row["review_id"], {})[row["item__number"]] = row["score"]
    result = []
    for site in site_list:
        points = []
        for review in (r for r in reviews if r.site_id == site.pk):
            items = items_by_scale.get(review.scale_id, [])
            summary = summarise(review.scale, items, consensus.get(review.pk, {}))
            if summary.total is not None:
                points.append(TrendPoint(review=review, total=summary.total, band=summary.band))
        if not points:
            result.append(SiteTrend(site, [], 0, 0, [], []))
            continue
        latest_scale = points[-1].review.scale
        n_items = len(items_by_scale[latest_scale.pk])
        low, high = n_items * latest_scale.min_level, n_items * latest_scale.max_level
        trend = SiteTrend(
            site=site, points=points, maximum=high, minimum=low, band_lines=[], item_rows=[]
        )
        span = (high - low) or 1

        def y_of(value: float, trend: SiteTrend = trend, low: int = low, span: int = span) -> float:
            return round(trend.bottom - (trend.bottom - trend.top) * (value - low) / span, 1)

        count = len(points)
        inset = 28  # room for the first and last date under the axis
        first_x, last_x = trend.left + inset, trend.right - inset
        for i, point in enumerate(points):
            step = (last_x - first_x) / (count - 1) if count > 1 else 0
            point.x = round(first_x + i * step if count > 1 else (first_x + last_x) / 2, 1)
            point.y = y_of(point.total)
        trend.path = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
        trend.band_lines = [
            BandLine(label=str(b["label"]), value=int(b["min"]), y=y_of(int(b["min"])))
            for b in latest_scale.bands
            if low < int(b["min"]) <= high
        ]
        for tick in [
            *trend.band_lines,
            BandLine("", low, y_of(low)),
            BandLine("", high, y_of(high)),
        ]:
            if all(abs(tick.y - kept.y) >= 9 for kept in trend.ticks):
                trend.ticks.append(tick)
        numbers = sorted({i.number for p in points for i in items_by_scale[p.review.scale_id]})
        titles = {i.number: i.title for p in points for i in items_by_scale[p.review.scale_id]}
        for number in numbers:
            cells = []
            for point in points:
                scale = point.review.scale
                score = consensus.get(point.review.pk, {}).get(number)
                cells.append(
                    {"score": score, "heat": heat_level(score, scale.min_level, scale.max_level)}
                )
            trend.item_rows.append({"number": number, "title": titles[number], "cells": cells})
        result.append(trend)
    return result


def scale_usage(trial: Trial) -> list[Scale]:
    """The trial's scales with ``item_count`` and ``review_count`` annotated."""
    return list(
        Scale.objects.filter(trial=trial)
        .annotate(
            item_count=Count("items", distinct=True), review_count=Count("reviews", distinct=True)
        )
        .order_by("name", "created_at")
    )
