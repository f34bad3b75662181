"""What an instrument asks, as plain data: items, scales and missing-data codes.

An instrument version's definition is stored as JSON (``InstrumentVersion.definition``) and read
into these frozen dataclasses. Everything that works from a definition (the staff and participant
forms, the API and its schema, the import, the data dictionary, the reports) goes through
:func:`Definition.from_json` and :func:`clean_answers`, so there is one reading of what an answer
may be. Whether a definition may be stored at all is ``instruments.rules.check_definition``.

This module does not touch the ORM or the request: it is tested on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from instruments import branching

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""Variable names: lower-case letters, digits and underscores, starting with a letter, at most
40 characters (Stata allows 32 in a name it labels: names over 32 are refused for exports)."""
NAME_MAX = 32
CODE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
"""Choice and missing-data codes, as REDCap allows them."""
INTEGER_CODE = re.compile(r"^-?\d+$")


class ItemType(StrEnum):
    YESNO = "yesno"
    INTEGER = "integer"
    DECIMAL = "decimal"
    CHOICE = "choice"
    MULTI = "multi"
    DATE = "date"
    TEXT = "text"
    OCCUPATION = "occupation"


ITEM_TYPE_LABELS = {
    ItemType.YESNO: ("Yes / no", "Ja / nei"),
    ItemType.INTEGER: ("Whole number", "Heltall"),
    ItemType.DECIMAL: ("Decimal number", "Desimaltall"),
    ItemType.CHOICE: ("Single choice", "Ett valg"),
    ItemType.MULTI: ("Multiple choice", "Flere valg"),
    ItemType.DATE: ("Date", "Dato"),
    ItemType.TEXT: ("Free text", "Fritekst"),
    ItemType.OCCUPATION: ("Occupation (STYRK-08)", "Yrke (STYRK-08)"),
}


class ScaleMethod(StrEnum):
    SUM = "sum"
    MEAN = "mean"


@dataclass(frozen=True)
class Text:
    """A label in both languages; either may be empty, the other is then shown."""

    en: str = ""
    nb: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Text:
        if isinstance(data, str):
            return cls(en=data, nb=data)
        data = data or {}
        return cls(en=str(data.get("en", "") or ""), nb=str(data.get("nb", "") or ""))

    def to_json(self) -> dict[str, str]:
        return {"en": self.en, "nb": self.nb}

    def get(self, language: str | None = None) -> str:
        language = (language or get_language() or "en")[:2]
        first, second = (self.nb, self.en) if language in {"nb", "no", "nn"} else (self.en, self.nb)
        return first or second

    def __str__(self) -> str:
        return self.get()


@dataclass(frozen=True)
class Choice:
    code: str
    label: Text

    @property
    def value(self) -> int | str:
        """The stored answer: integer codes are stored as integers (scales add them up)."""
        return int(self.code) if INTEGER_CODE.match(self.code) else self.code


@dataclass(frozen=True)
class Item:
    name: str
    type: ItemType
    label: Text
    required: bool = False
    choices: tuple[Choice, ...] = ()
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    decimals: int | None = None
    """For decimal items: at most this many decimals."""
    unit: str = ""
    pattern: str = ""
    """For text items: a regular expression the whole answer must match (a format check)."""
    max_length: int = 500
    show_if: str = ""
    """A branching condition (``instruments.branching``); empty: always shown."""
    note: Text = field(default_factory=Text)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        def number(key: str) -> Decimal | None:
            value = data.get(key)
            return None if value in (None, "") else Decimal(str(value))

        return cls(
            name=str(data["name"]),
            type=ItemType(data["type"]),
            label=Text.from_json(data.get("label")),
            required=bool(data.get("required", False)),
            choices=tuple(
                Choice(str(c["code"]), Text.from_json(c.get("label")))
                for c in data.get("choices", [])
            ),
            minimum=number("min"),
            maximum=number("max"),
            decimals=None if data.get("decimals") in (None, "") else int(data["decimals"]),
            unit=str(data.get("unit", "") or ""),
            pattern=str(data.get("pattern", "") or ""),
            max_length=int(data.get("max_length") or 500),
            show_if=str(data.get("show_if", "") or ""),
            note=Text.from_json(data.get("note")),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": str(self.type),
            "label": self.label.to_json(),
        }
        if self.required:
            data["required"] = True
        if self.choices:
            data["choices"] = [{"code": c.code, "label": c.label.to_json()} for c in self.choices]
        for key, value in (("min", self.minimum), ("max", self.maximum)):
            if value is not None:
                data[key] = format(value.normalize(), "f")
        if self.decimals is not None:
            data["decimals"] = self.decimals
        for key, text in (
            ("unit", self.unit),
            ("pattern", self.pattern),
            ("show_if", self.show_if),
        ):
            if text:
                data[key] = text
        if self.type == ItemType.TEXT and self.max_length != 500:
            data["max_length"] = self.max_length
        if self.note.en or self.note.nb:
            data["note"] = self.note.to_json()
        return data

    def choice(self, value: Any) -> Choice | None:
        text = str(value).strip()
        return next((c for c in self.choices if c.code == text), None)

    @property
    def condition(self) -> branching.Node | None:
        return branching.parse(self.show_if)


@dataclass(frozen=True)
class Band:
    """A score from ``minimum`` upwards is in this band (until the next band's minimum)."""

    minimum: Decimal
    label: Text


@dataclass(frozen=True)
class Scale:
    """A score derived from items: their sum or mean, some reverse-coded, optionally prorated.

    ``max_missing`` items may be unanswered: the sum is then prorated (mean of the answered
    items times the number of items); with more missing the score is missing. ``multiplier``
    rescales the result (WHO-5's percentage is the raw sum times 4).
    """

    name: str
    label: Text
    items: tuple[str, ...]
    method: ScaleMethod = ScaleMethod.SUM
    reverse: tuple[str, ...] = ()
    max_missing: int = 0
    multiplier: Decimal = Decimal(1)
    decimals: int = 2
    bands: tuple[Band, ...] = ()
    library: str = ""
    """The key of the library scale this was added from (``instruments.library``), if any."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scale:
        return cls(
            name=str(data["name"]),
            label=Text.from_json(data.get("label")),
            items=tuple(str(i) for i in data.get("items", [])),
            method=ScaleMethod(data.get("method", "sum")),
            reverse=tuple(str(i) for i in data.get("reverse", [])),
            max_missing=int(data.get("max_missing", 0) or 0),
            multiplier=Decimal(str(data.get("multiplier", 1) or 1)),
            decimals=int(data.get("decimals", 2)),
            bands=tuple(
                Band(Decimal(str(b["min"])), Text.from_json(b.get("label")))
                for b in data.get("bands", [])
            ),
            library=str(data.get("library", "") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "label": self.label.to_json(),
            "items": list(self.items),
            "method": str(self.method),
        }
        if self.reverse:
            data["reverse"] = list(self.reverse)
        if self.max_missing:
            data["max_missing"] = self.max_missing
        if self.multiplier != 1:
            data["multiplier"] = format(self.multiplier.normalize(), "f")
        if self.decimals != 2:
            data["decimals"] = self.decimals
        if self.bands:
            data["bands"] = [
                {"min": format(b.minimum.normalize(), "f"), "label": b.label.to_json()}
                for b in self.bands
            ]
        if self.library:
            data["library"] = self.library
        return data


DEFAULT_MISSING_CODES = (
    ("not_asked", Text("Not asked", "Ikke spurt")),
    ("refused", Text("Refused to answer", "Vil ikke svare")),
    ("dont_know", Text("Don't know", "Vet ikke")),
)


@dataclass(frozen=True)
class MissingCode:
    code: str
    label: Text


@dataclass(frozen=True)
class Definition:
    items: tuple[Item, ...]
    scales: tuple[Scale, ...] = ()
    missing_codes: tuple[MissingCode, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Definition:
        return cls(
            items=tuple(Item.from_json(i) for i in data.get("items", [])),
            scales=tuple(Scale.from_json(s) for s in data.get("scales", [])),
            missing_codes=tuple(
                MissingCode(str(m["code"]), Text.from_json(m.get("label")))
                for m in data.get("missing_codes", [])
            ),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"items": [i.to_json() for i in self.items]}
        if self.scales:
            data["scales"] = [s.to_json() for s in self.scales]
        if self.missing_codes:
            data["missing_codes"] = [
                {"code": m.code, "label": m.label.to_json()} for m in self.missing_codes
            ]
        return data

    def item(self, name: str) -> Item | None:
        return next((i for i in self.items if i.name == name), None)

    @property
    def names(self) -> list[str]:
        """Every variable the instrument stores or derives: items, then scale scores."""
        return [i.name for i in self.items] + [s.name for s in self.scales]


def name_rule() -> str:
    return _(
        "Use lower-case letters, digits and underscores, starting with a letter "
        "(at most 32 characters)."
    )


# A multiple choice's data columns are named ``<name>___<code>`` (REDCap's convention), so a
# variable named with three underscores could take the name of another item's column.
CHOICE_COLUMN_MARK = "___"


def name_fault(name: str) -> str | None:
    """Why ``name`` cannot name a variable, or None."""
    if not NAME.match(name) or len(name) > NAME_MAX:
        return name_rule()
    if CHOICE_COLUMN_MARK in name:
        return _(
            "Three underscores in a row are kept for the data columns of a multiple choice "
            "(name___code)."
        )
    return None


class DefinitionError(ValueError):
    """A definition that cannot be used; ``errors`` lists (where, message) pairs, where is
    ``items[3].choices`` style, so a page or an import can point at the row and column."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {message}" for where, message in errors))
        self.errors = errors


def answer_range(item: Item) -> tuple[Decimal, Decimal] | None:
    """The lowest and highest possible answer of a numeric item (for reverse coding)."""
    if item.type == ItemType.CHOICE:
        values = [Decimal(c.code) for c in item.choices]
        return (min(values), max(values)) if values else None
    if item.type == ItemType.YESNO:
        return Decimal(0), Decimal(1)
    if item.minimum is None or item.maximum is None:
        return None
    return item.minimum, item.maximum


# ---------------------------------------------------------------------------------------------
# Answers


@dataclass
class Answers:
    """One record's clean answers: ``values`` by variable (JSON-ready: bool, int, str for codes
    and dates, float for decimals, list for multiple choice, an empty one when no choice was
    ticked) and ``missing`` codes by variable. An item is in at most one of the two; an item in
    neither is blank."""

    values: dict[str, Any]
    missing: dict[str, str]


class AnswerError(ValueError):
    """Answers that cannot be stored; ``errors`` maps each variable at fault to one message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


_YES = {"1", "true", "yes", "ja", "y", "j"}
_NO = {"0", "false", "no", "nei", "n"}


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


def parse_value(item: Item, raw: Any, *, labels: bool = False) -> Any:
    """One answer as stored, from what a form, a JSON client or a file sent.

    ``labels``: a choice may also be given by its label (imports of files exported with labels).
    Raises ValueError with a message for the person who typed it."""
    if item.type == ItemType.YESNO:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
        raise ValueError(_("Answer yes or no."))
    if item.type in {ItemType.INTEGER, ItemType.DECIMAL}:
        if isinstance(raw, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(
                str(raw).strip().replace(",", ".").replace("\u00a0", "").replace(" ", "")
            )
        except InvalidOperation:
            raise ValueError(_("Enter a number.")) from None
        if not number.is_finite():
            raise ValueError(_("Enter a number."))
        if item.type == ItemType.INTEGER and number != number.to_integral_value():
            raise ValueError(_("Enter a whole number."))
        if item.decimals is not None and -number.normalize().as_tuple().exponent > item.decimals:  # type: ignore[operator]  # exponent is an int for finite numbers
            raise ValueError(_("Use at most %(n)s decimals.") % {"n": item.decimals})
        if item.minimum is not None and number < item.minimum:
            raise ValueError(_("Must be at least %(min)s.") % {"min": _plain(item.minimum)})
        if item.maximum is not None and number > item.maximum:
            raise ValueError(_("Must be at most %(max)s.") % {"max": _plain(item.maximum)})
        return int(number) if item.type == ItemType.INTEGER else float(number)
    if item.type == ItemType.CHOICE:
        return _choice(item, raw, labels=labels).value
    if item.type == ItemType.MULTI:
        parts = (
            raw
            if isinstance(raw, list | tuple)
            else [p for p in re.split(r"[|;,]", str(raw)) if p.strip()]
        )
        chosen = [_choice(item, part, labels=labels) for part in parts]
        order = {c.code: i for i, c in enumerate(item.choices)}
        return [c.value for c in sorted(set(chosen), key=lambda c: order[c.code])]
    if item.type == ItemType.DATE:
        if isinstance(raw, dt.date):
            day = raw
        else:
            try:
                day = dt.date.fromisoformat(str(raw).strip())
            except ValueError:
                raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
        return day.isoformat()
    if item.type == ItemType.OCCUPATION:
        from occupations import styrk  # reference data, not a dependency on the app's models

        code = styrk.normalise(raw)
        if not styrk.is_valid(code):
            raise ValueError(_("Unknown STYRK-08 code '%(code)s'") % {"code": code})
        return code
    text = str(raw).strip()
    if len(text) > item.max_length:
        raise ValueError(_("At most %(n)s characters.") % {"n": item.max_length})
    if item.pattern and not re.fullmatch(item.pattern, text):
        raise ValueError(_("The answer does not have the expected format."))
    return text


def _choice(item: Item, raw: Any, *, labels: bool) -> Choice:
    found = item.choice(raw)
    if found is None and labels:
        text = str(raw).strip().casefold()
        found = next(
            (c for c in item.choices if text in {c.label.en.casefold(), c.label.nb.casefold()}),
            None,
        )
    if found is None:
        raise ValueError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(c.code for c in item.choices)}
        )
    return found


def _blank(raw: Any) -> bool:
    return (
        raw is None
        or (isinstance(raw, str) and not raw.strip())
        or (isinstance(raw, list | tuple) and not raw)
    )


def _none_ticked(item: Item, raw: Any) -> bool:
    """Whether ``raw`` answers a multiple-choice item with no choice ticked: an empty list (a
    form's checkboxes all left blank, or ``[]`` sent), for an item that is not required (a
    required one needs a choice or a missing-data code). Such an answer is stored as ``[]``;
    a multiple choice never sent (None) is blank, as every other item."""
    return item.type == ItemType.MULTI and isinstance(raw, list | tuple) and not item.required


def clean_answers(
    definition: Definition,
    values: Mapping[str, Any],
    missing: Mapping[str, str] | None = None,
    *,
    labels: bool = False,
) -> Answers:
    """Check one record's answers against the definition and return them as stored.

    Items are read in order, so a condition sees the clean answers of earlier items. A hidden
    item must be left blank; a shown required item needs an answer or a missing-data code.
    Raises AnswerError naming every variable at fault; nothing is partly accepted."""
    missing = dict(missing or {})
    errors: dict[str, str] = {}
    known = {i.name for i in definition.items}
    for name in [*values, *missing]:
        if name not in known and name not in errors:
            errors[name] = (
                _("%(name)s is a score: it is computed, not entered.") % {"name": name}
                if name in {s.name for s in definition.scales}
                else _("%(name)s is not an item of this instrument.") % {"name": name}
            )
    codes = {m.code for m in definition.missing_codes}
    clean: dict[str, Any] = {}
    clean_missing: dict[str, str] = {}
    for item in definition.items:
        raw = values.get(item.name)
        code = missing.get(item.name)
        shown = branching.evaluate(item.condition, clean)
        if code not in (None, ""):
            if not _blank(raw):
                errors[item.name] = _("Give an answer or a missing-data code, not both.")
            elif code not in codes:
                errors[item.name] = _("Unknown missing-data code %(code)s.") % {"code": code}
            elif not shown:
                errors[item.name] = _("This item is not asked here: leave it empty.")
            else:
                clean_missing[item.name] = str(code)
            continue
        if _blank(raw):
            if shown and _none_ticked(item, raw):
                clean[item.name] = []  # answered: none of the choices applies
                continue
            if shown and item.required:
                errors[item.name] = (
                    _("This item is required: answer it or choose a missing-data code.")
                    if codes
                    else _("This item is required.")
                )
            continue
        if not shown:
            errors[item.name] = _("This item is not asked here: leave it empty.")
            continue
        try:
            clean[item.name] = parse_value(item, raw, labels=labels)
        except ValueError as exc:
            errors[item.name] = str(exc)
    if errors:
        raise AnswerError(errors)
    return Answers(values=clean, missing=clean_missing)
