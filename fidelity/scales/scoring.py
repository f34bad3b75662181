"""The figures of one set of item scores on a scale: section subtotals, the total and its band.
Plain functions over a scale and its items; nothing typed by a user is a total."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fidelity.models import Scale, ScaleItem


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
