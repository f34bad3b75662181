"""What variables a trial has: the one reading used by the dictionary, the exports, the import
and the reports.

Every item and scale score of the trial's instruments is a :class:`Variable`, described by the
latest version of its instrument that has it, plus the trial's baseline covariates as the
variables of a pseudo-instrument ``baseline_covariates`` (plans pick covariates from them).

A variable's *kind* is the default way to analyse it, read from its definition by simple rules
(:func:`item_kind`):

* yes / no: ``binary``;
* a whole number: ``continuous`` when its unit is money (kroner are an amount, not a count of
  events); ``count`` when it cannot be negative (minimum 0 or more) and has no maximum or a
  maximum over 20 (days worked, number of jobs); otherwise ``continuous`` (a short bounded
  range such as 0 to 10 is a rating, usually analysed as continuous);
* a decimal number: ``continuous``;
* single choice: ``binary`` when the codes are exactly 0 and 1, ``ordinal`` when every code is a
  whole number (scales add such codes up, so their order means something), else
  ``categorical``;
* multiple choice ``multi``, date ``date``, free text ``text``, STYRK-08 code ``occupation``;
* a scale score: ``score`` (analysed as continuous).

A multiple-choice item is not one column of the analysis data sets but one 0/1 column per choice
(:class:`Indicator`, :func:`indicator_columns`), named as REDCap names a checkbox's columns:
``<variable>___<code>``.

Baseline covariates follow the same rules (a choice covariate is ``categorical``: its values are
stored as text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from instruments.definition import (
    CHOICE_COLUMN_MARK,
    INTEGER_CODE,
    Choice,
    Item,
    ItemType,
    Scale,
    Text,
)
from instruments.models import InstrumentVersion, VisitInstrument
from trial.models import CovariateDefinition, Trial

COVARIATES = "baseline_covariates"
"""The pseudo-instrument code of the trial's baseline covariates."""
COVARIATES_NAME = Text("Baseline covariates", "Bakgrunnsvariabler")
SCORE = "score"
"""The item type of a scale score (scores are derived, not asked)."""
COUNT_MAX = 20
"""A whole number without negative values is a count when it has no maximum or one above this."""
MONEY_UNITS = frozenset({"nok", "kr", "kr.", "kroner", "eur", "€", "usd", "$", "sek", "dkk"})

YES_NO_LABELS = {"1": Text("Yes", "Ja"), "0": Text("No", "Nei")}


class Kind(StrEnum):
    BINARY = "binary"
    CONTINUOUS = "continuous"
    COUNT = "count"
    ORDINAL = "ordinal"
    CATEGORICAL = "categorical"
    MULTI = "multi"
    DATE = "date"
    TEXT = "text"
    OCCUPATION = "occupation"
    SCORE = "score"


@dataclass(frozen=True)
class Indicator:
    """One choice of a multiple-choice item as its own column of the data sets: 1 when the
    choice was ticked, 0 when the item was answered without it, blank when the item was not
    answered (REDCap's checkbox export, with blank for an unanswered item)."""

    column: str
    code: str
    label: Text

    @property
    def value(self) -> int | str:
        """The choice as an answer stores it (integer codes as integers)."""
        return Choice(self.code, self.label).value


def indicator_columns(name: str, choices: Iterable[Choice]) -> tuple[Indicator, ...]:
    """The columns of multiple-choice item ``name``, one per choice in the order given:
    ``<name>___<code>``, the code lower-cased and every character but a letter, digit or
    underscore made an underscore (``-1`` gives ``<name>____1``, as in REDCap), so that Stata,
    SPSS and R read the name as it is. A code that comes out as one already used (``A`` and
    ``a``, ``1.5`` and ``1_5``) gets ``_2``, ``_3``, … after it."""
    out: list[Indicator] = []
    used: set[str] = set()
    for choice in choices:
        safe = re.sub(r"[^a-z0-9_]", "_", choice.code.lower())
        column = base = f"{name}{CHOICE_COLUMN_MARK}{safe}"
        number = 2
        while column in used:
            column, number = f"{base}_{number}", number + 1
        used.add(column)
        out.append(Indicator(column=column, code=choice.code, label=choice.label))
    return tuple(out)


@dataclass(frozen=True)
class Variable:
    """One variable of the trial's flat data dictionary.

    ``instrument_version``: the latest version of the instrument that has the variable (the
    instrument's latest unless the variable was dropped from it); ``versions``: every version
    that has it. ``value_labels`` and ``missing_codes`` map codes, as text, to their labels
    (yes / no has ``1`` and ``0``); a choice answer is stored as an int when its code is a whole
    number. ``visits``: the codes of the visits that ask the instrument, in schedule order.
    ``item`` / ``scale``: the definition read, for what the fields here leave out.
    """

    name: str
    instrument_code: str
    instrument_version: int
    label: Text
    kind: Kind
    item_type: str
    unit: str = ""
    instrument_name: Text = field(default_factory=Text)
    current: bool = True
    """Whether the instrument's latest version has the variable (False: only older ones do)."""
    value_labels: dict[str, Text] = field(default_factory=dict, hash=False)
    visits: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    missing_codes: dict[str, Text] = field(default_factory=dict, hash=False)
    item: Item | None = field(default=None, compare=False)
    scale: Scale | None = field(default=None, compare=False)
    indicators: tuple[Indicator, ...] = ()
    """A multiple-choice item's columns in the data sets, one per choice: the choices of the
    latest version that has the item, then any only older versions had (their answers keep
    them). Empty for every other variable, which is one column named as the variable."""

    @property
    def is_covariate(self) -> bool:
        return self.instrument_code == COVARIATES


def item_kind(item: Item) -> Kind:
    """The default analysis of an item (the rules are in the module's docstring)."""
    if item.type == ItemType.YESNO:
        return Kind.BINARY
    if item.type == ItemType.INTEGER:
        return _integer_kind(item.minimum, item.maximum, item.unit)
    if item.type == ItemType.DECIMAL:
        return Kind.CONTINUOUS
    if item.type == ItemType.CHOICE:
        return _choice_kind([c.code for c in item.choices])
    return {
        ItemType.MULTI: Kind.MULTI,
        ItemType.DATE: Kind.DATE,
        ItemType.TEXT: Kind.TEXT,
        ItemType.OCCUPATION: Kind.OCCUPATION,
    }[item.type]


def _integer_kind(minimum: Decimal | None, maximum: Decimal | None, unit: str) -> Kind:
    if unit.strip().lower() in MONEY_UNITS:
        return Kind.CONTINUOUS
    if minimum is not None and minimum >= 0 and (maximum is None or maximum > COUNT_MAX):
        return Kind.COUNT
    return Kind.CONTINUOUS


def _choice_kind(codes: list[str]) -> Kind:
    if sorted(codes) == ["0", "1"]:
        return Kind.BINARY
    if codes and all(INTEGER_CODE.match(code) for code in codes):
        return Kind.ORDINAL
    return Kind.CATEGORICAL


def item_variable(
    item: Item,
    *,
    instrument: str,
    version: int,
    versions: tuple[int, ...] = (),
    visits: tuple[str, ...] = (),
    missing_codes: dict[str, Text] | None = None,
    instrument_name: Text | None = None,
    current: bool = True,
    choices_ever: Iterable[Choice] = (),
) -> Variable:
    """The variable of ``item``; ``choices_ever``: a multiple-choice item's choices in every
    version of the instrument, newest first (those ``item`` lacks get columns after its own)."""
    labels = (
        dict(YES_NO_LABELS)
        if item.type == ItemType.YESNO
        else {c.code: c.label for c in item.choices}
    )
    return Variable(
        name=item.name,
        instrument_code=instrument,
        instrument_version=version,
        label=item.label,
        kind=item_kind(item),
        item_type=str(item.type),
        unit=item.unit,
        value_labels=labels,
        visits=visits,
        versions=versions or (version,),
        missing_codes=dict(missing_codes or {}),
        instrument_name=instrument_name or Text(),
        current=current,
        item=item,
        indicators=indicator_columns(item.name, _with_older(item.choices, choices_ever))
        if item.type == ItemType.MULTI
        else (),
    )


def _with_older(choices: Iterable[Choice], older: Iterable[Choice]) -> list[Choice]:
    """``choices``, then those of ``older`` whose codes are not among them (each code once)."""
    out: dict[str, Choice] = {}
    for choice in [*choices, *older]:
        out.setdefault(choice.code, choice)
    return list(out.values())


def scale_variable(
    scale: Scale,
    *,
    instrument: str,
    version: int,
    versions: tuple[int, ...] = (),
    visits: tuple[str, ...] = (),
    instrument_name: Text | None = None,
    current: bool = True,
) -> Variable:
    return Variable(
        name=scale.name,
        instrument_code=instrument,
        instrument_version=version,
        label=scale.label,
        kind=Kind.SCORE,
        item_type=SCORE,
        visits=visits,
        versions=versions or (version,),
        instrument_name=instrument_name or Text(),
        current=current,
        scale=scale,
    )


def covariate_variable(covariate: CovariateDefinition) -> Variable:
    """A baseline covariate as a variable, with an item read from its definition (its one
    label in both languages)."""
    kinds = CovariateDefinition.Kind
    label = Text(covariate.label, covariate.label)
    item_type = {
        kinds.BOOLEAN: ItemType.YESNO,
        kinds.CHOICE: ItemType.CHOICE,
        kinds.INTEGER: ItemType.INTEGER,
    }.get(kinds(covariate.kind), ItemType.DECIMAL)
    choices = tuple(
        Choice(str(pair[0]), Text(str(pair[1]), str(pair[1])))
        for pair in (covariate.choices or [])
        if item_type == ItemType.CHOICE
    )
    numeric = item_type in {ItemType.INTEGER, ItemType.DECIMAL}
    item = Item(
        name=covariate.key,
        type=item_type,
        label=label,
        required=covariate.required,
        choices=choices,
        minimum=_plain(covariate.min_value) if numeric else None,
        maximum=_plain(covariate.max_value) if numeric else None,
    )
    # Choice covariates are stored as text: categories, whatever their codes look like.
    kind = Kind.CATEGORICAL if item_type == ItemType.CHOICE else item_kind(item)
    return Variable(
        name=covariate.key,
        instrument_code=COVARIATES,
        instrument_version=1,
        label=label,
        kind=kind,
        item_type=str(item_type),
        value_labels=dict(YES_NO_LABELS)
        if item_type == ItemType.YESNO
        else {c.code: c.label for c in choices},
        versions=(1,),
        instrument_name=COVARIATES_NAME,
        item=item,
    )


def _plain(number: Decimal | None) -> Decimal | None:
    """16.00 as 16 (covariate limits are stored with two decimals)."""
    return None if number is None else Decimal(format(number.normalize(), "f"))


def variables(trial: Trial) -> list[Variable]:
    """The trial's variables: each instrument's items, then its scale scores (in the order of
    its latest version, then any the latest version dropped), instruments in their order, then
    the baseline covariates. Three queries, whatever the number of instruments and versions."""
    rows = (
        InstrumentVersion.objects.filter(instrument__trial=trial)
        .select_related("instrument")
        .order_by("instrument__order", "instrument__code", "-number")
    )
    visits: dict[int, list[str]] = {}
    links = (
        VisitInstrument.objects.filter(instrument__trial=trial)
        .order_by("visit_definition__offset_months")
        .values_list("instrument_id", "visit_definition__code")
    )
    for instrument_id, code in links:
        visits.setdefault(instrument_id, []).append(code)

    found: list[Variable] = []
    by_instrument: dict[int, list[InstrumentVersion]] = {}
    for version in rows:
        by_instrument.setdefault(version.instrument_id, []).append(version)
    for instrument_id, versions in by_instrument.items():
        instrument = versions[0].instrument
        code, latest = instrument.code, versions[0].number
        name = Text(instrument.name_en, instrument.name_nb)
        asked = tuple(visits.get(instrument_id, ()))
        # Newest first: a variable is described by the newest version that has it.
        seen: dict[str, list[int]] = {}
        first: dict[str, tuple[InstrumentVersion, Item | Scale]] = {}
        choices: dict[str, list[Choice]] = {}  # every version's, newest first
        for version in versions:
            definition = version.parsed
            things: list[Item | Scale] = [*definition.items, *definition.scales]
            for thing in things:
                seen.setdefault(thing.name, []).append(version.number)
                first.setdefault(thing.name, (version, thing))
                if isinstance(thing, Item) and thing.type == ItemType.MULTI:
                    choices.setdefault(thing.name, []).extend(thing.choices)
        for variable_name, (version, thing) in first.items():
            numbers = tuple(sorted(seen[variable_name]))
            current = version.number == latest
            if isinstance(thing, Item):
                missing = {m.code: m.label for m in version.parsed.missing_codes}
                found.append(
                    item_variable(
                        thing,
                        instrument=code,
                        version=version.number,
                        versions=numbers,
                        visits=asked,
                        missing_codes=missing,
                        instrument_name=name,
                        current=current,
                        choices_ever=choices.get(variable_name, ()),
                    )
                )
            else:
                found.append(
                    scale_variable(
                        thing,
                        instrument=code,
                        version=version.number,
                        versions=numbers,
                        visits=asked,
                        instrument_name=name,
                        current=current,
                    )
                )
    found.extend(covariate_variable(c) for c in trial.covariates.all())
    return found
