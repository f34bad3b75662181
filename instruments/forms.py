"""The form engine: a Django form built from an instrument version's definition.

One field per item, with the widget its type calls for, the label in the user's language, the
unit, range and note as help text, and a missing-data code beside each item when the definition
has codes. The fields check only the shape a browser sends (every value arrives as text);
:func:`instruments.definition.clean_answers` is the one reading of what an answer may be, and
its per-item refusals are put next to their items.

Branching is progressive enhancement: each item's wrapper carries its raw condition
(``data-show-if``) and ``static/js/branching.js`` hides the items whose condition does not hold.
Without JavaScript every item shows, each conditional item says when it is asked, and the
server refuses an answer to an item that is not asked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from instruments import branching
from instruments.definition import (
    AnswerError,
    Answers,
    Definition,
    Item,
    ItemType,
    Scale,
    clean_answers,
)
from instruments.models import Assessment
from instruments.scoring import band

RADIO_MAX = 5
"""A single choice with at most this many options is shown as radios, else as a select."""
TEXTAREA_FROM = 200
"""A text item allowing more characters than this is a text area."""
MISSING_SUFFIX = "__missing"
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


def raw_value(item: Item, value: Any) -> Any:
    """A stored answer as the form shows it (what a browser would send back)."""
    if value is None:
        return None
    if item.type == ItemType.YESNO:
        return "1" if value else "0"
    if item.type == ItemType.MULTI:
        return [str(v) for v in value]
    if item.type == ItemType.DECIMAL:
        return _plain(Decimal(str(value)))
    return str(value)


def item_field(item: Item, label: str) -> forms.Field:
    """The field for one item: text in, nothing refused here but what cannot be text."""
    attrs: dict[str, str] = {}
    if item.type == ItemType.YESNO:
        return forms.CharField(
            label=label,
            required=False,
            widget=forms.RadioSelect(choices=[("1", _("Yes")), ("0", _("No"))]),
        )
    if item.type in {ItemType.INTEGER, ItemType.DECIMAL}:
        if item.type == ItemType.INTEGER:
            attrs["step"] = "1"
            attrs["inputmode"] = "numeric"
        else:
            attrs["step"] = (
                _plain(Decimal(1).scaleb(-item.decimals)) if item.decimals is not None else "any"
            )
            attrs["inputmode"] = "decimal"
        if item.minimum is not None:
            attrs["min"] = _plain(item.minimum)
        if item.maximum is not None:
            attrs["max"] = _plain(item.maximum)
        return forms.CharField(
            label=label, required=False, strip=True, widget=forms.NumberInput(attrs=attrs)
        )
    if item.type in {ItemType.CHOICE, ItemType.MULTI}:
        choices = [(c.code, c.label.get()) for c in item.choices]
        if item.type == ItemType.MULTI:
            # A plain Field: the list of ticked codes goes to clean_answers as it came.
            return forms.Field(
                label=label,
                required=False,
                widget=forms.CheckboxSelectMultiple(choices=choices),
            )
        widget: forms.Widget = (
            forms.RadioSelect(choices=choices)
            if len(choices) <= RADIO_MAX
            else forms.Select(choices=[("", "—"), *choices])
        )
        return forms.CharField(label=label, required=False, widget=widget)
    if item.type == ItemType.DATE:
        return forms.CharField(label=label, required=False, widget=DATE)
    if item.type == ItemType.OCCUPATION:
        return forms.CharField(
            label=label,
            required=False,
            widget=forms.TextInput(
                attrs={
                    "inputmode": "numeric",
                    "autocomplete": "off",
                    "maxlength": "4",
                    "size": "6",
                    "class": "code",
                }
            ),
        )
    widget = (
        forms.Textarea(attrs={"rows": "3", "maxlength": str(item.max_length)})
        if item.max_length > TEXTAREA_FROM
        else forms.TextInput(attrs={"maxlength": str(item.max_length)})
    )
    return forms.CharField(label=label, required=False, strip=True, widget=widget)


def help_text(item: Item) -> str:
    """The unit, the range, the expected format and the item's note, in one line."""
    parts: list[str] = []
    if item.type in {ItemType.INTEGER, ItemType.DECIMAL}:
        low, high = item.minimum, item.maximum
        if low is not None and high is not None:
            parts.append(
                _("%(min)s to %(max)s") % {"min": _plain(low), "max": _plain(high)}
                + (f" {item.unit}" if item.unit else "")
            )
        elif low is not None:
            parts.append(_("At least %(min)s") % {"min": _plain(low)})
        elif high is not None:
            parts.append(_("At most %(max)s") % {"max": _plain(high)})
        if item.unit and (low is None or high is None):
            parts.append(_("Unit: %(unit)s") % {"unit": item.unit})
        if item.type == ItemType.DECIMAL and item.decimals is not None:
            parts.append(
                ngettext("at most %(n)s decimal", "at most %(n)s decimals", item.decimals)
                % {"n": item.decimals}
            )
    elif item.type == ItemType.OCCUPATION:
        parts.append(_("A 4-digit STYRK-08 code."))
    elif item.type == ItemType.MULTI:
        parts.append(_("Tick all that apply."))
    note = item.note.get()
    if note:
        parts.append(note)
    return " · ".join(parts)


_OPS = {
    "=": gettext_lazy("is"),
    "<>": gettext_lazy("is not"),
    "<": "<",
    ">": ">",
    "<=": "≤",
    ">=": "≥",
}


def describe_condition(definition: Definition, text: str) -> str:
    """A branching condition in words, from the items' labels and the choices' labels:
    ``[in_paid_work] = '1'`` reads "In paid work is Yes". Empty for no condition."""
    node = branching.parse(text)
    return _describe(definition, node) if node is not None else ""


def _describe(definition: Definition, node: branching.Node) -> str:
    if isinstance(node, branching.Not):
        return _("not (%(part)s)") % {"part": _describe(definition, node.part)}
    if isinstance(node, branching.BoolOp):
        joiner = f" {_('and')} " if node.op == "and" else f" {_('or')} "
        parts = [
            f"({_describe(definition, p)})"
            if isinstance(p, branching.BoolOp)
            else _describe(definition, p)
            for p in node.parts
        ]
        return joiner.join(parts)
    ref = node.left if isinstance(node.left, branching.Ref) else node.right
    other = node.right if ref is node.left else node.left
    if not isinstance(ref, branching.Ref):
        return f"{node.left} {node.op} {node.right}"
    item = definition.item(ref.name)
    name = item.label.get() if item is not None else ref.name
    if ref.option is not None and item is not None:
        choice = item.choice(ref.option)
        option = choice.label.get() if choice is not None else ref.option
        ticked = str(other) == "1"
        if node.op == "<>":
            ticked = not ticked
        return (
            _("%(item)s: %(option)s ticked") % {"item": name, "option": option}
            if ticked
            else _("%(item)s: %(option)s not ticked") % {"item": name, "option": option}
        )
    value = str(other)
    shown = value
    if value == "":
        shown = _("blank")
    elif item is not None and item.type == ItemType.YESNO and value in {"1", "0"}:
        shown = _("Yes") if value == "1" else _("No")
    elif item is not None and item.type in {ItemType.CHOICE, ItemType.MULTI}:
        choice = item.choice(value)
        if choice is not None:
            label = choice.label.get()
            # An order compares codes: show the code, and what it stands for.
            shown = label if node.op in {"=", "<>"} else f"{value} ({label})"
    return f"{name} {_OPS.get(node.op, node.op)} {shown}"


@dataclass
class ItemRow:
    """What the template needs for one item: the answer field, its missing-data code field,
    whether it is required, and when it is asked (the raw condition and in words)."""

    item: Item
    field: forms.BoundField
    missing: forms.BoundField | None
    required: bool
    show_if: str
    asked_when: str

    @property
    def errors(self) -> Any:
        return self.field.errors


class InstrumentForm(forms.Form):
    """The items of one instrument version. ``cleaned_answers`` holds the clean answers once the
    form is valid; the refusals of ``clean_answers`` are field errors of their items."""

    def __init__(
        self,
        definition: Definition,
        *args: Any,
        assessment: Assessment | None = None,
        **kwargs: Any,
    ) -> None:
        if assessment is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_from(definition, assessment)
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.cleaned_answers: Answers | None = None
        codes = [(m.code, m.label.get()) for m in definition.missing_codes]
        for item in definition.items:
            label = item.label.get()
            field = item_field(item, label)
            field.help_text = help_text(item)
            self.fields[item.name] = field
            if codes:
                self.fields[item.name + MISSING_SUFFIX] = forms.CharField(
                    label=_("Missing-data code for %(item)s") % {"item": label},
                    required=False,
                    widget=forms.Select(
                        choices=[("", _("Not missing")), *codes],
                        # The visible label is short; the name says which item (the JS finds
                        # the select by data-missing).
                        attrs={
                            "data-missing": "",
                            "aria-label": _("Missing-data code for %(item)s") % {"item": label},
                        },
                    ),
                )

    @property
    def has_missing_codes(self) -> bool:
        return bool(self.definition.missing_codes)

    @property
    def rows(self) -> list[ItemRow]:
        rows = []
        for item in self.definition.items:
            missing_name = item.name + MISSING_SUFFIX
            bound = self[item.name]
            asked_when = describe_condition(self.definition, item.show_if)
            if not bound.use_fieldset:
                # The help, when the item is asked and its error describe the input (a fieldset
                # gets the same in the template).
                ids = [
                    f"{bound.auto_id}_{part}"
                    for part, present in (
                        ("helptext", bool(bound.help_text)),
                        ("when", bool(asked_when)),
                        ("error", bool(bound.errors)),
                    )
                    if present
                ]
                if ids:
                    bound.field.widget.attrs["aria-describedby"] = " ".join(ids)
            rows.append(
                ItemRow(
                    item=item,
                    field=bound,
                    missing=self[missing_name] if missing_name in self.fields else None,
                    required=item.required,
                    show_if=item.show_if,
                    asked_when=asked_when,
                )
            )
        return rows

    @property
    def has_branching(self) -> bool:
        return any(item.show_if for item in self.definition.items)

    def raw_answers(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The answers and missing-data codes as sent (blanks left out)."""
        data = self.cleaned_data
        values: dict[str, Any] = {}
        missing: dict[str, str] = {}
        for item in self.definition.items:
            value = data.get(item.name)
            if value not in (None, "", []):
                values[item.name] = value
            code = data.get(item.name + MISSING_SUFFIX)
            if code:
                missing[item.name] = code
        return values, missing

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        values, missing = self.raw_answers()
        try:
            self.cleaned_answers = clean_answers(self.definition, values, missing)
        except AnswerError as exc:
            self.add_answer_errors(exc.errors)
        return data

    def add_answer_errors(self, errors: dict[str, str]) -> None:
        """Put each item's refusal next to it (a name the form lacks goes above the form)."""
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)


def initial_from(definition: Definition, assessment: Assessment) -> dict[str, Any]:
    """A stored assessment's answers and codes as the form's initial data."""
    initial: dict[str, Any] = {}
    for item in definition.items:
        if item.name in assessment.values:
            initial[item.name] = raw_value(item, assessment.values[item.name])
        if item.name in assessment.missing:
            initial[item.name + MISSING_SUFFIX] = assessment.missing[item.name]
    return initial


# ---------------------------------------------------------------------------------------------
# Read-only answers


@dataclass(frozen=True)
class ShownAnswer:
    label: str
    value: str
    missing: bool = False
    """The item was answered with a missing-data code (``value`` is the code's label)."""
    blank: bool = False


@dataclass(frozen=True)
class ShownScore:
    label: str
    value: str
    band: str


def shown_value(item: Item, value: Any) -> str:
    """A stored answer as a person reads it: labels for codes, Yes/No, the unit."""
    if item.type == ItemType.YESNO:
        return _("Yes") if value else _("No")
    if item.type == ItemType.MULTI and value == []:
        return _("None of the choices")
    if item.type in {ItemType.CHOICE, ItemType.MULTI}:
        values = value if isinstance(value, list) else [value]
        labels = []
        for v in values:
            choice = item.choice(v)
            labels.append(choice.label.get() if choice is not None else str(v))
        return ", ".join(labels)
    if item.type in {ItemType.INTEGER, ItemType.DECIMAL}:
        text = raw_value(item, value)
        return f"{text} {item.unit}" if item.unit else str(text)
    if item.type == ItemType.OCCUPATION:
        from occupations import styrk

        title = styrk.label(value, "nb" if _is_norwegian() else "en")
        return f"{value} {title}".strip() if title and title != value else str(value)
    if item.type == ItemType.DATE and isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _is_norwegian() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "en")[:2] in {"nb", "no", "nn"}


def shown_answers(definition: Definition, assessment: Assessment) -> list[ShownAnswer]:
    """Every item of the version with its answer, missing-data code, blank, or "skipped" when
    its condition did not hold."""
    codes = {m.code: m.label.get() for m in definition.missing_codes}
    rows = []
    for item in definition.items:
        label = item.label.get()
        if item.name in assessment.values:
            rows.append(ShownAnswer(label, shown_value(item, assessment.values[item.name])))
        elif item.name in assessment.missing:
            code = assessment.missing[item.name]
            rows.append(ShownAnswer(label, codes.get(code, code), missing=True))
        elif not branching.evaluate(item.condition, assessment.values):
            # Its condition did not hold: skipped, not left blank.
            rows.append(ShownAnswer(label, _("skipped"), blank=True))
        else:
            rows.append(ShownAnswer(label, "–", blank=True))
    return rows


def shown_score(scale: Scale, value: Any) -> ShownScore:
    found = band(scale, value) if isinstance(value, int | float) else None
    text = "–" if value is None else format(Decimal(str(value)).normalize(), "f")
    return ShownScore(scale.label.get() or scale.name, text, found.label.get() if found else "")


def shown_scores(definition: Definition, assessment: Assessment) -> list[ShownScore]:
    return [shown_score(s, assessment.scores.get(s.name)) for s in definition.scales]


# ---------------------------------------------------------------------------------------------
# What the data-entry page asks besides the items


class RecordForm(forms.Form):
    """The date of the assessment, and the trial's contamination question when it is asked.

    The question is asked of every participant whatever their arm, so that the form does not
    tell a blinded assessor the arm; fidelity records a yes from a control participant."""

    assessed_on = forms.DateField(label=gettext_lazy("Assessed on"), widget=DATE)

    def __init__(self, *args: Any, question: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if question:
            self.fields["contamination_reported"] = forms.TypedChoiceField(
                label=question,
                choices=[("yes", _("Yes")), ("no", _("No")), ("", _("Not answered"))],
                coerce=lambda value: value == "yes",
                empty_value=None,
                required=False,
                widget=forms.RadioSelect,
                help_text=_("The trial's contamination question."),
            )


class CorrectionForm(forms.Form):
    """Why the answers are corrected (required; kept in the audit trail) and the date."""

    assessed_on = forms.DateField(label=gettext_lazy("Assessed on"), widget=DATE)
    reason = forms.CharField(
        label=gettext_lazy("Reason for the correction"),
        max_length=500,
        help_text=gettext_lazy("Kept in the audit trail with the answers before and after."),
        widget=forms.TextInput(attrs={"maxlength": "500"}),
    )
