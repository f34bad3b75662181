"""The participant's walk through one instrument: which items are asked given the answers so
far (the definition's branching, read as ``clean_answers`` reads it), one item per screen, and
the check of one screen's answer with the same rules as staff entry.

No ORM and no request here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instruments import branching
from instruments.definition import (
    AnswerError,
    Definition,
    Item,
    ItemType,
    clean_answers,
    parse_value,
)

DECLINE_CODE = "refused"
"""The missing-data code a participant's "I don't want to answer" records, where the
instrument's codes include it."""


def _blank(raw: Any) -> bool:
    return raw is None or raw == "" or raw == []


def asked_items(
    definition: Definition, values: Mapping[str, Any], missing: Mapping[str, str]
) -> list[Item]:
    """The items asked given the raw answers so far, in order: an item whose condition holds
    on the clean answers of the items before it (an answer that does not parse counts as
    blank, as it will be refused on its own screen)."""
    clean: dict[str, Any] = {}
    asked = []
    for item in definition.items:
        if not branching.evaluate(item.condition, clean):
            continue
        asked.append(item)
        raw = values.get(item.name)
        if item.name in missing or _blank(raw):
            continue
        try:
            clean[item.name] = parse_value(item, raw)
        except ValueError:
            continue
    return asked


def can_decline(definition: Definition) -> bool:
    return any(m.code == DECLINE_CODE for m in definition.missing_codes)


def check_item(
    definition: Definition,
    item: Item,
    values: Mapping[str, Any],
    missing: Mapping[str, str],
) -> str | None:
    """The refusal of ``item``'s answer, as staff entry would give it, or None. Only this
    item's verdict counts: later items are not answered yet."""
    asked = {i.name for i in asked_items(definition, values, missing)}
    try:
        clean_answers(
            definition,
            {k: v for k, v in values.items() if k in asked},
            {k: v for k, v in missing.items() if k in asked},
        )
    except AnswerError as exc:
        return exc.errors.get(item.name)
    return None


def submission(
    definition: Definition, values: Mapping[str, Any], missing: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The answers to submit: those of asked items only (an answer to an item that a changed
    earlier answer no longer asks is dropped), blanks left out but for a multiple choice
    answered with no choice ticked (an empty list: the screen was answered)."""
    asked = {i.name for i in asked_items(definition, values, missing)}
    kept = {k: v for k, v in values.items() if k in asked and (v == [] or not _blank(v))}
    codes = {k: v for k, v in missing.items() if k in asked}
    return kept, codes


def raw_from_post(item: Item, data: Any) -> Any:
    """One item's answer as a form sends it (a list for multiple choice)."""
    if item.type == ItemType.MULTI:
        return [str(v) for v in data.getlist(item.name) if str(v).strip()]
    value = data.get(item.name, "")
    return str(value).strip()
