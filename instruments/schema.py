"""A JSON Schema (draft 2020-12) of the answers each instrument version accepts.

The API's static OpenAPI schema can only say that ``values`` maps variable names to answers,
because each trial defines its own items. ``GET /api/v1/trials/<code>/instruments/schema/``
serves, for every instrument version of the trial, a JSON Schema of the request body of
``POST .../visits/<id>/assessment/`` built from the same definition ``clean_answers`` reads:
each item's type, codes (``enum``, and ``oneOf`` of ``const`` with ``title`` for labels),
range, decimals (``multipleOf``), format and pattern; the missing-data codes; which items are
required; and the branching, as ``if``/``then``/``else`` (a hidden item must be left out, a
shown required item needs an answer or a missing-data code), where the condition can be
written in JSON Schema. A payload the schema accepts is one the server accepts, except for what
no schema can know (a STYRK-08 code that does not exist, the dates of the visit).

The schema describes the canonical JSON forms (``true``/``false``, numbers, codes as stored);
the server also reads lenient forms ("yes", "20,5") for files and forms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from instruments import branching, builtin
from instruments.definition import (
    INTEGER_CODE,
    Definition,
    Item,
    ItemType,
    Text,
)
from instruments.models import InstrumentVersion
from trial.models import Trial

DIALECT = "https://json-schema.org/draft/2020-12/schema"
STYRK_PATTERN = "^[0-9]{4}$"


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _labels(text: Text) -> dict[str, str]:
    return {"en": text.en or text.nb, "nb": text.nb or text.en}


def _codes(item: Item) -> dict[str, Any]:
    """The codes of a choice item: ``enum`` for generators, ``oneOf`` with titles for forms."""
    return {
        "enum": [c.value for c in item.choices],
        "oneOf": [
            {"const": c.value, "title": c.label.get(), "x-labels": _labels(c.label)}
            for c in item.choices
        ],
    }


def item_schema(item: Item) -> dict[str, Any]:
    """One item's answer, as the API stores and accepts it in JSON."""
    schema: dict[str, Any] = {"title": item.label.get(), "x-labels": _labels(item.label)}
    if item.type == ItemType.YESNO:
        schema["type"] = "boolean"
    elif item.type in {ItemType.INTEGER, ItemType.DECIMAL}:
        schema["type"] = "integer" if item.type == ItemType.INTEGER else "number"
        if item.minimum is not None:
            schema["minimum"] = _number(item.minimum)
        if item.maximum is not None:
            schema["maximum"] = _number(item.maximum)
        if item.type == ItemType.DECIMAL and item.decimals is not None:
            # Validators that divide in binary floating point refuse some multiples (12.7 of
            # 0.1); x-decimals says the same plainly. docs/api.md: read numbers as decimals.
            schema["multipleOf"] = float(Decimal(1).scaleb(-item.decimals))
            schema["x-decimals"] = item.decimals
    elif item.type == ItemType.CHOICE:
        integers = all(INTEGER_CODE.match(c.code) for c in item.choices)
        schema["type"] = "integer" if integers else "string"
        schema.update(_codes(item))
    elif item.type == ItemType.MULTI:
        integers = all(INTEGER_CODE.match(c.code) for c in item.choices)
        schema.update(
            {
                "type": "array",
                "items": {"type": "integer" if integers else "string", **_codes(item)},
                "uniqueItems": True,
                # An empty list answers "none of the choices", where the item is not required.
                "minItems": 1 if item.required else 0,
            }
        )
    elif item.type == ItemType.DATE:
        schema.update({"type": "string", "format": "date"})
    elif item.type == ItemType.OCCUPATION:
        schema.update(
            {
                "type": "string",
                "pattern": STYRK_PATTERN,
                "description": _("A STYRK-08 occupation code (4 digits)."),
            }
        )
    else:
        schema.update({"type": "string", "maxLength": item.max_length})
        if item.pattern:
            # The server matches the whole answer (Python's re.fullmatch).
            schema["pattern"] = f"^(?:{item.pattern})$"
    notes = [item.note.get()] if item.note.get() else []
    if item.unit:
        schema["x-unit"] = item.unit
        notes.append(_("Unit: %(unit)s") % {"unit": item.unit})
    if notes:
        schema["description"] = " ".join([schema.get("description", ""), *notes]).strip()
    if item.required:
        schema["x-required"] = True
    if item.show_if:
        schema["x-show-if"] = item.show_if
    return schema


# ---------------------------------------------------------------------------------------------
# Branching conditions as JSON Schema, over the whole body ({"values": ..., "missing": ...})


def _has(name: str) -> dict[str, Any]:
    return {"required": ["values"], "properties": {"values": {"required": [name]}}}


def _lacks(name: str) -> dict[str, Any]:
    return {"not": _has(name)}


def _value(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": ["values"],
        "properties": {"values": {"required": [name], "properties": {name: schema}}},
    }


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "<>": "<>"}
_BOUND = {"<": "exclusiveMaximum", ">": "exclusiveMinimum", "<=": "maximum", ">=": "minimum"}


def condition_schema(definition: Definition, node: branching.Node | None) -> dict[str, Any] | None:
    """A schema that holds exactly when the condition holds, or None when the condition cannot
    be written in JSON Schema (two items compared, a text compared as a number)."""
    if node is None:
        return {}
    if isinstance(node, branching.Not):
        part = condition_schema(definition, node.part)
        return None if part is None else {"not": part}
    if isinstance(node, branching.BoolOp):
        parts = [condition_schema(definition, p) for p in node.parts]
        if any(p is None for p in parts):
            return None
        return {"allOf" if node.op == "and" else "anyOf": parts}
    left, op, right = node.left, node.op, node.right
    if isinstance(left, str) and isinstance(right, branching.Ref):
        left, op, right = right, _FLIP[op], left
    if not isinstance(left, branching.Ref) or not isinstance(right, str):
        return None
    item = definition.item(left.name)
    if item is None:
        return None
    if left.option is not None:
        if op not in {"=", "<>"} or right not in {"0", "1"} or item.type != ItemType.MULTI:
            return None
        choice = item.choice(left.option)
        if choice is None:
            ticked: dict[str, Any] = NEVER  # an option that does not exist is never ticked
        else:
            ticked = _value(left.name, {"contains": {"const": choice.value}})
        holds = ticked if (right == "1") == (op == "=") else {"not": ticked}
        return holds
    if item.type == ItemType.MULTI:
        return None
    if op in {"=", "<>"}:
        equal = _lacks(left.name) if right == "" else _equals(item, right)
        if equal is None:
            return None
        return equal if op == "=" else {"not": equal}
    # <, >, <=, >=: only answers that read as numbers order; a blank never does.
    if not _numeric(right) or not _numeric_answers(item):
        return None
    bound = _number(Decimal(right))
    if item.type == ItemType.YESNO:
        # A yes/no answer reads as 1 or 0.
        allowed = [v for v in (True, False) if _compare(int(v), op, bound)]
        return _value(left.name, {"enum": allowed}) if allowed else NEVER
    return _value(left.name, {_BOUND[op]: bound})


NEVER: dict[str, Any] = {"not": {}}


def _numeric_answers(item: Item) -> bool:
    if item.type in {ItemType.INTEGER, ItemType.DECIMAL, ItemType.YESNO}:
        return True
    return item.type == ItemType.CHOICE and all(INTEGER_CODE.match(c.code) for c in item.choices)


def _equals(item: Item, text: str) -> dict[str, Any] | None:
    """A schema that holds when the item's stored answer equals the literal as the server
    compares them (as numbers when both read as numbers, else as text), or None."""
    if _numeric_answers(item):
        if not _numeric(text):
            return NEVER  # a number's text is never a non-number
        number = Decimal(text)
        if item.type == ItemType.YESNO:
            if number in (0, 1):
                return _value(item.name, {"const": number == 1})
            return NEVER
        if item.type != ItemType.DECIMAL and number != number.to_integral_value():
            return NEVER
        return _value(item.name, {"const": _number(number)})
    if _numeric(text):
        return None  # a text that reads as a number is compared as one ("05" = '5')
    return _value(item.name, {"const": text})


def _numeric(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def _compare(a: int, op: str, b: int | float) -> bool:
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


# ---------------------------------------------------------------------------------------------


def values_schema(definition: Definition) -> dict[str, Any]:
    return {
        "type": "object",
        "description": _("Answers by variable name; leave out an item that is blank."),
        "properties": {item.name: item_schema(item) for item in definition.items},
        "additionalProperties": False,
    }


def missing_schema(definition: Definition) -> dict[str, Any]:
    codes = [m.code for m in definition.missing_codes]
    code_schema: dict[str, Any] = {
        "type": "string",
        "enum": codes,
        "oneOf": [
            {"const": m.code, "title": m.label.get(), "x-labels": _labels(m.label)}
            for m in definition.missing_codes
        ],
    }
    return {
        "type": "object",
        "description": _(
            "Missing-data codes by variable name, for items without an answer (kept apart "
            "from blanks)."
        ),
        "properties": {item.name: code_schema for item in definition.items} if codes else {},
        "additionalProperties": False,
    }


def rules(definition: Definition) -> list[dict[str, Any]]:
    """What holds across items: an answer or a code (not both), required items answered or
    coded, and each conditional item left out when its condition does not hold."""
    found: list[dict[str, Any]] = []
    for item in definition.items:
        name = item.name
        answered_or_coded = {
            "anyOf": [
                _has(name),
                {"required": ["missing"], "properties": {"missing": {"required": [name]}}},
            ]
        }
        if definition.missing_codes:
            found.append(
                {
                    "not": {
                        "required": ["values", "missing"],
                        "properties": {
                            "values": {"required": [name]},
                            "missing": {"required": [name]},
                        },
                    }
                }
            )
        condition = condition_schema(definition, item.condition) if item.show_if else {}
        if condition is None:
            continue  # only x-show-if says when it is asked
        if not item.show_if:
            if item.required:
                found.append(answered_or_coded)
            continue
        absent = {
            "properties": {
                "values": {"not": {"required": [name]}},
                "missing": {"not": {"required": [name]}},
            }
        }
        rule: dict[str, Any] = {"if": condition, "else": absent}
        if item.required:
            rule["then"] = answered_or_coded
        found.append(rule)
    return found


def answers_schema(code: str, name: str, version: int, definition: Definition) -> dict[str, Any]:
    """The JSON Schema of the body that records answers to one instrument version."""
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "title": _("Answers to %(name)s, version %(version)s") % {"name": name, "version": version},
        "type": "object",
        "properties": {
            "instrument": {"const": code, "description": _("The instrument's code.")},
            "assessed_on": {"type": "string", "format": "date"},
            "values": values_schema(definition),
            "missing": missing_schema(definition),
            "contamination_reported": {"type": ["boolean", "null"]},
        },
        "required": ["assessed_on"],
        "additionalProperties": False,
    }
    found = rules(definition)
    if found:
        schema["allOf"] = found
    required = [i.name for i in definition.items if i.required]
    if required:
        schema["x-required-items"] = required
    return schema


def trial_schema(trial: Trial) -> dict[str, Any]:
    """Every instrument version of the trial, each with the schema of its answers; the
    built-in default instrument is described as it will be made if the trial has none yet."""
    versions = (
        InstrumentVersion.objects.filter(instrument__trial=trial)
        .select_related("instrument")
        .order_by("instrument__order", "instrument__code", "number")
    )
    latest: dict[int, int] = {}
    rows = list(versions)
    for version in rows:
        latest[version.instrument_id] = max(latest.get(version.instrument_id, 0), version.number)
    instruments: list[dict[str, Any]] = []
    for version in rows:
        instrument = version.instrument
        instruments.append(
            _entry(
                instrument.code,
                instrument.name,
                version.number,
                version.number == latest[instrument.pk],
                version.parsed,
                default=instrument.builtin == builtin.EMPLOYMENT,
            )
        )
    has_default = any(v.instrument.builtin == builtin.EMPLOYMENT for v in rows)
    taken = {v.instrument.code for v in rows}
    if not has_default and builtin.EMPLOYMENT not in taken:
        spec = builtin.BUILTIN[builtin.EMPLOYMENT]
        definition = Definition.from_json(spec["definition"]())  # type: ignore[operator]  # a function in BUILTIN
        name = Text(str(spec["name_en"]), str(spec["name_nb"])).get()
        instruments.append(_entry(builtin.EMPLOYMENT, name, 1, True, definition, default=True))
    return {"trial": trial.code, "instruments": instruments}


def _entry(
    code: str, name: str, version: int, current: bool, definition: Definition, *, default: bool
) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "version": version,
        "current": current,
        "default": default,
        "schema": answers_schema(code, name, version, definition),
    }
