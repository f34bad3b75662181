"""Scale scores from one record's answers: sums and means, reverse coding, proration, bands.

A scale (:class:`instruments.definition.Scale`) is a set of numeric items and a rule. Its score is
a derived variable: the answer service stores :func:`derive_scores` in ``Assessment.scores`` and
recomputes it whenever an answer is corrected, so a score is never entered and never stale.

The rule, in order:

1. **Numbers.** Each item's stored answer is read as a number: a yes/no answer counts 1 (yes) or
   0 (no); integer choice codes and numbers count as themselves. Anything else counts as
   *unanswered*: a blank, an item answered with a missing-data code (kept in ``missing``, or, as
   REDCap stores them, the code itself in place of the value), an item hidden by its condition.
2. **Reverse coding.** An item listed in ``scale.reverse`` counts ``min + max - answer``, with
   ``min`` and ``max`` the item's lowest and highest possible answers
   (:func:`instruments.definition.answer_range`). Reverse-listed items that are not among the
   scale's items are not scored.
3. **Missing items.** Up to ``scale.max_missing`` unanswered items are *prorated*: a sum becomes
   the mean of the answered items times the number of items, a mean is the mean of the answered
   items. With more unanswered items (or none answered) the score is missing (``None``).
4. **Multiplier and rounding.** The result is multiplied by ``scale.multiplier`` (WHO-5's
   percentage is its raw sum times 4) and rounded to ``scale.decimals`` decimals, half away from
   zero (2.345 → 2.35, -2.345 → -2.35), computed in :class:`decimal.Decimal` throughout: not
   Python's ``round``, which rounds halves to even and works on binary floats.

**Subscales** are simply further scales of the same definition over a subset of the items: a
definition may hold any number of scales, each with its own rule and bands, and an item may count
in several of them (WHO-5's raw sum and its percentage are two scales over the same five items).

This module does not touch the ORM or the request: it is tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from instruments.definition import Band, Definition, Item, Scale, ScaleMethod, answer_range


def number(raw: Any, *, codes: frozenset[str] = frozenset()) -> Decimal | None:
    """One stored answer as a number, or None when it does not count as an answer.

    ``True``/``False`` count 1/0; ints, floats and Decimals count as themselves; a string counts
    when it reads as a number and is not one of the missing-data ``codes``. Blanks, lists,
    other text and non-finite numbers are None."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return Decimal(int(raw))
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(str(raw)) if math.isfinite(raw) else None
    if isinstance(raw, Decimal):
        return raw if raw.is_finite() else None
    if isinstance(raw, str):
        text = raw.strip()
        if not text or text in codes:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None
        return value if value.is_finite() else None
    return None


def reverse(value: Decimal, bounds: tuple[Decimal, Decimal]) -> Decimal:
    """A reverse-coded answer: ``min + max - value`` (1…4 becomes 4…1, 0…5 becomes 5…0)."""
    low, high = bounds
    return low + high - value


def round_half_away(value: Decimal, decimals: int) -> Decimal:
    """``value`` rounded to ``decimals`` places, halves away from zero (2.5 → 3, -2.5 → -3)."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _item(definition: Definition, name: str) -> Item:
    item = definition.item(name)
    if item is None:
        # check_definition refuses such a scale; reaching here means an unchecked definition.
        raise ValueError(f"{name} is not an item of this definition")
    return item


def score(
    scale: Scale,
    definition: Definition,
    values: Mapping[str, Any],
    *,
    missing: Mapping[str, Any] | None = None,
) -> float | None:
    """The scale's score for one record, or None when too many items are unanswered.

    ``values`` are the record's clean answers by variable; ``missing`` (optional) its
    missing-data codes by variable: an item there counts as unanswered whatever ``values``
    holds. The rule (sum or mean, reverse coding, proration up to ``scale.max_missing``,
    multiplier, rounding half away from zero with Decimal, not banker's rounding) is the
    module's docstring. A definition that passed ``check_definition`` never raises; an
    unchecked one may raise ValueError (a scale item that is not an item, a reverse-coded item
    without a range)."""
    codes = frozenset(m.code for m in definition.missing_codes)
    missing = missing or {}
    answered: list[Decimal] = []
    for name in scale.items:
        item = _item(definition, name)
        value = None if name in missing else number(values.get(name), codes=codes)
        if value is None:
            continue
        if name in scale.reverse:
            bounds = answer_range(item)
            if bounds is None:
                raise ValueError(f"{name} has no range to reverse-code")
            value = reverse(value, bounds)
        answered.append(value)
    count = len(scale.items)
    if not answered or count - len(answered) > scale.max_missing:
        return None
    total = sum(answered, Decimal(0))
    if scale.method == ScaleMethod.MEAN:
        result = total * scale.multiplier / len(answered)
    else:
        # Multiply before dividing: a prorated sum stays exact wherever it can be.
        result = total * count * scale.multiplier / len(answered)
    return float(round_half_away(result, scale.decimals)) + 0.0  # + 0.0: no "-0.0"


def derive_scores(
    definition: Definition,
    values: Mapping[str, Any],
    *,
    missing: Mapping[str, Any] | None = None,
) -> dict[str, float | None]:
    """Every scale's score for one record, by scale name, in the definition's order.

    What the answer service stores in ``Assessment.scores`` (and recomputes on every
    correction). Pure: safe to call any number of times."""
    return {s.name: score(s, definition, values, missing=missing) for s in definition.scales}


def band(scale: Scale, value: float | Decimal | None) -> Band | None:
    """The band a score falls in: the one with the highest minimum at or below the score.

    None when the score is missing or below every band's minimum (or the scale has none).
    Compared in Decimal, so a score of 2.0 is in a band that starts at 2.0."""
    if value is None:
        return None
    target = value if isinstance(value, Decimal) else Decimal(str(value))
    reached = [b for b in scale.bands if b.minimum <= target]
    return max(reached, key=lambda b: b.minimum) if reached else None
