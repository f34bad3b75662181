"""A temporary, private data dictionary for the reports, until ``instruments.dictionary.variables``
exists (issue 19). It has that module's interface exactly (:class:`Variable`, :func:`variables`),
and only :mod:`reports.variables` imports it: at the merge that import is pointed at the real
module and this file is deleted.

Kinds: yes/no → binary; integer with a minimum of 0 or more → count; decimal and other integers
→ continuous; single choice with integer codes only → ordinal, other single choice →
categorical; scale scores → score; multiple choice, date, text and occupation keep their type's
name (multi, date, text, occupation).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from instruments import builtin
from instruments.definition import INTEGER_CODE, Definition, Item, ItemType, Text
from instruments.models import Instrument, VisitInstrument
from trial.models import Trial

YES_NO = {"1": Text("Yes", "Ja"), "0": Text("No", "Nei")}


@dataclass(frozen=True)
class Variable:
    name: str
    instrument_code: str
    instrument_version: int
    label: Text
    kind: str
    type: str
    unit: str = ""
    value_labels: dict[str, Text] = field(default_factory=dict)
    visits: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    missing_codes: dict[str, Text] = field(default_factory=dict)


def _kind(item: Item) -> str:
    if item.type == ItemType.YESNO:
        return "binary"
    if item.type == ItemType.INTEGER:
        return "count" if item.minimum is not None and item.minimum >= 0 else "continuous"
    if item.type == ItemType.DECIMAL:
        return "continuous"
    if item.type == ItemType.CHOICE:
        numeric = item.choices and all(INTEGER_CODE.match(c.code) for c in item.choices)
        return "ordinal" if numeric else "categorical"
    return str(item.type)


def _value_labels(item: Item) -> dict[str, Text]:
    if item.type == ItemType.YESNO:
        return dict(YES_NO)
    return {c.code: c.label for c in item.choices}


def variables(trial: Trial) -> list[Variable]:
    """Every variable of the trial's instruments (items, then scale scores, instrument by
    instrument), described by the latest version that has it. The built-in "Employment and
    benefits" instrument is included before it is first used (its first version)."""
    instruments = list(
        Instrument.objects.filter(trial=trial)
        .prefetch_related("versions")
        .order_by("order", "code")
    )
    visits = list(
        trial.visit_definitions.order_by("offset_months", "code").values_list("pk", "code")
    )
    linked: dict[int, set[int]] = defaultdict(set)
    for visit_id, instrument_id in VisitInstrument.objects.filter(
        visit_definition__trial=trial
    ).values_list("visit_definition_id", "instrument_id"):
        linked[instrument_id].add(visit_id)
    with_links = {v for ids in linked.values() for v in ids}
    versions_of: list[tuple[str, bool, set[int], list[tuple[int, Definition]]]] = []
    default = next((i for i in instruments if i.builtin == builtin.EMPLOYMENT), None)
    if default is None:
        definition = Definition.from_json(builtin.employment_definition())
        versions_of.append((builtin.EMPLOYMENT, True, set(), [(1, definition)]))
    for instrument in instruments:
        numbered = sorted(
            ((v.number, v.parsed) for v in instrument.versions.all()), key=lambda p: p[0]
        )
        versions_of.append(
            (instrument.code, instrument is default, linked.get(instrument.pk, set()), numbered)
        )
    out: list[Variable] = []
    for code, is_default, links, numbered in versions_of:
        asked = [c for pk, c in visits if pk in links or (is_default and pk not in with_links)]
        seen: dict[str, Variable] = {}
        present: dict[str, list[int]] = defaultdict(list)
        for number, definition in numbered:
            for name in definition.names:
                present[name].append(number)
        for number, definition in reversed(numbered):
            missing = {m.code: m.label for m in definition.missing_codes}
            for item in definition.items:
                if item.name not in seen:
                    seen[item.name] = Variable(
                        name=item.name,
                        instrument_code=code,
                        instrument_version=number,
                        label=item.label,
                        kind=_kind(item),
                        type=str(item.type),
                        unit=item.unit,
                        value_labels=_value_labels(item),
                        visits=list(asked),
                        versions=present[item.name],
                        missing_codes=missing,
                    )
            for scale in definition.scales:
                if scale.name not in seen:
                    seen[scale.name] = Variable(
                        name=scale.name,
                        instrument_code=code,
                        instrument_version=number,
                        label=scale.label,
                        kind="score",
                        type="score",
                        visits=list(asked),
                        versions=present[scale.name],
                    )
        latest = numbered[-1][1] if numbered else Definition(items=())
        order = {name: i for i, name in enumerate(latest.names)}
        out.extend(sorted(seen.values(), key=lambda v: (order.get(v.name, len(order)), v.name)))
    return out
