"""Scale scores from answers (minimal version; the scales helper replaces it)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from instruments.definition import Band, Definition, Scale, answer_range


def score(scale: Scale, definition: Definition, values: Mapping[str, Any]) -> float | None:
    numbers: list[Decimal] = []
    for name in scale.items:
        item = definition.item(name)
        raw = values.get(name)
        if item is None or raw is None or isinstance(raw, list | str):
            continue
        value = Decimal(int(raw)) if isinstance(raw, bool) else Decimal(str(raw))
        if name in scale.reverse:
            low, high = answer_range(item) or (Decimal(0), Decimal(0))
            value = low + high - value
        numbers.append(value)
    if not scale.items or len(scale.items) - len(numbers) > scale.max_missing or not numbers:
        return None
    mean = sum(numbers, Decimal(0)) / len(numbers)
    total = mean * len(scale.items) if scale.method == "sum" else mean
    quantum = Decimal(1).scaleb(-scale.decimals)
    return float((total * scale.multiplier).quantize(quantum, rounding=ROUND_HALF_UP))


def derive_scores(definition: Definition, values: Mapping[str, Any]) -> dict[str, float | None]:
    return {s.name: score(s, definition, values) for s in definition.scales}


def band(scale: Scale, value: float | None) -> Band | None:
    if value is None:
        return None
    found = [b for b in scale.bands if b.minimum <= Decimal(str(value))]
    return max(found, key=lambda b: b.minimum) if found else None
