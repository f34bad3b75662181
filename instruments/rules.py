"""The rules a definition must meet before a trial may store it: :func:`check_definition`.

Every fault is a (where, message) pair, where is ``items[3].choices`` style, so a page, the API
or an import can point at the row and column; the checks run in the order the faults are listed
(items, their conditions, scales, missing-data codes). Like ``instruments.definition`` this module
does not touch the ORM or the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.utils.translation import gettext as _

from instruments import branching
from instruments.definition import (
    CODE,
    INTEGER_CODE,
    Definition,
    DefinitionError,
    Item,
    ItemType,
    Scale,
    answer_range,
    name_fault,
)

Faults = list[tuple[str, str]]


def check_definition(definition: Definition, *, taken: Iterable[str] = ()) -> None:
    """Refuse a definition that cannot be used; ``taken`` are variable names other instruments
    of the trial use already (names are unique across a trial, so the dictionary is flat).

    Raises DefinitionError listing every fault."""
    taken = set(taken)
    seen: set[str] = set()
    errors = _item_faults(definition, seen, taken)
    errors += _condition_faults(definition)
    by_name = {i.name: i for i in definition.items}
    for index, scale in enumerate(definition.scales):
        errors += _scale_faults(scale, f"scales[{index}]", by_name, seen, taken)
        seen.add(scale.name)
    errors += _missing_code_faults(definition)
    if not definition.items:
        errors.append(("items", _("An instrument needs at least one item.")))
    if errors:
        raise DefinitionError(errors)


def _item_faults(definition: Definition, seen: set[str], taken: set[str]) -> Faults:
    """Each item on its own, and its name against the earlier items' (``seen``, which it fills)
    and the trial's other instruments' (``taken``)."""
    errors: Faults = []
    for index, item in enumerate(definition.items):
        where = f"items[{index}]"
        errors.extend(_one_item_faults(item, where))
        if item.name in seen:
            errors.append(
                (f"{where}.name", _("The name %(name)s is used twice.") % {"name": item.name})
            )
        if item.name in taken:
            errors.append(
                (
                    f"{where}.name",
                    _("Another instrument of the trial uses the name %(name)s.")
                    % {"name": item.name},
                )
            )
        seen.add(item.name)
    return errors


def _condition_faults(definition: Definition) -> Faults:
    """Each branching condition can be read and refers only to earlier items (and to options
    of multiple-choice ones only)."""
    errors: Faults = []
    earlier: set[str] = set()
    for index, item in enumerate(definition.items):
        where = f"items[{index}].show_if"
        try:
            node = item.condition
        except branching.ConditionError as exc:
            errors.append((where, _("The condition cannot be read: %(error)s") % {"error": exc}))
            earlier.add(item.name)
            continue
        for ref in branching.references(node):
            if ref.name not in earlier:
                errors.append(
                    (
                        where,
                        _("The condition refers to %(name)s, which is not an earlier item.")
                        % {"name": ref.name},
                    )
                )
            else:
                target = definition.item(ref.name)
                if ref.option is not None and target is not None and target.type != ItemType.MULTI:
                    errors.append(
                        (
                            where,
                            _("Only a multiple-choice item has options to test: %(name)s.")
                            % {"name": ref.name},
                        )
                    )
        earlier.add(item.name)
    return errors


def _scale_faults(
    scale: Scale, where: str, by_name: dict[str, Item], seen: set[str], taken: set[str]
) -> Faults:
    """One scale: its name, and items that exist and can be scored (and reversed)."""
    errors: Faults = []
    if fault := name_fault(scale.name):
        errors.append((f"{where}.name", fault))
    if scale.name in seen or scale.name in taken:
        errors.append(
            (f"{where}.name", _("The name %(name)s is used already.") % {"name": scale.name})
        )
    if not scale.items:
        errors.append((f"{where}.items", _("A scale needs at least one item.")))
    for name in (*scale.items, *scale.reverse):
        item = by_name.get(name)
        if item is None:
            errors.append(
                (
                    f"{where}.items",
                    _("%(name)s is not an item of this instrument.") % {"name": name},
                )
            )
        elif not _numeric_item(item):
            errors.append(
                (
                    f"{where}.items",
                    _("%(name)s has no numeric answers to score.") % {"name": name},
                )
            )
        elif name in scale.reverse and answer_range(item) is None:
            errors.append(
                (
                    f"{where}.reverse",
                    _("%(name)s needs a minimum and a maximum to be reverse-coded.")
                    % {"name": name},
                )
            )
    if not 0 <= scale.max_missing < max(len(scale.items), 1):
        errors.append(
            (
                f"{where}.max_missing",
                _("At most %(n)s items may be missing.") % {"n": max(len(scale.items) - 1, 0)},
            )
        )
    return errors


def _missing_code_faults(definition: Definition) -> Faults:
    codes = [m.code for m in definition.missing_codes]
    return [
        (
            f"missing_codes[{index}].code",
            _("Missing-data codes are short, unique and without spaces."),
        )
        for index, code in enumerate(codes)
        if not CODE.match(code) or codes.index(code) != index
    ]


def _one_item_faults(item: Item, where: str) -> Faults:
    errors: Faults = []
    if fault := name_fault(item.name):
        errors.append((f"{where}.name", fault))
    if not (item.label.en or item.label.nb):
        errors.append((f"{where}.label", _("Give the item a label.")))
    errors += _choice_faults(item, where)
    numeric = item.type in {ItemType.INTEGER, ItemType.DECIMAL}
    if (item.minimum is not None or item.maximum is not None) and not numeric:
        errors.append((f"{where}.min", _("Only numbers have a range.")))
    if item.minimum is not None and item.maximum is not None and item.minimum > item.maximum:
        errors.append((f"{where}.max", _("The maximum is below the minimum.")))
    if item.decimals is not None and (item.type != ItemType.DECIMAL or not 0 <= item.decimals <= 6):
        errors.append((f"{where}.decimals", _("Decimals apply to decimal items, 0 to 6.")))
    if item.pattern:
        if item.type != ItemType.TEXT:
            errors.append((f"{where}.pattern", _("Only text items have a format check.")))
        else:
            try:
                re.compile(item.pattern)
            except re.error as exc:
                errors.append(
                    (
                        f"{where}.pattern",
                        _("The format check is not a valid pattern: %(error)s") % {"error": exc},
                    )
                )
    return errors


def _choice_faults(item: Item, where: str) -> Faults:
    if item.type not in {ItemType.CHOICE, ItemType.MULTI}:
        return [(f"{where}.choices", _("Only choice items have choices."))] if item.choices else []
    errors: Faults = []
    if not item.choices:
        errors.append((f"{where}.choices", _("List the choices, one code and label each.")))
    codes = [c.code for c in item.choices]
    for code in codes:
        if not CODE.match(code):
            errors.append(
                (
                    f"{where}.choices",
                    _("The code %(code)s is not a short code without spaces.") % {"code": code},
                )
            )
    if len(set(codes)) != len(codes):
        errors.append((f"{where}.choices", _("A choice code is used twice.")))
    return errors


def _numeric_item(item: Item) -> bool:
    if item.type in {ItemType.INTEGER, ItemType.DECIMAL, ItemType.YESNO}:
        return True
    return item.type == ItemType.CHOICE and all(INTEGER_CODE.match(c.code) for c in item.choices)
