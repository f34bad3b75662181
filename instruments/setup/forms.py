"""Forms for defining instruments. They check the shape of what is typed and turn it into the
definition JSON (``instruments.definition``); the rules (names, choices, ranges, conditions,
scales) are ``check_definition``'s, reached through the services, whose faults the views put
next to the field they name.

Choices, missing-data codes and bands are typed one a line, as REDCap users write choices:
``code, English label | norsk etikett`` (the Norwegian label may be left out).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from instruments.definition import ITEM_TYPE_LABELS, ItemType, ScaleMethod, Text
from instruments.models import Instrument
from trial.models import VisitDefinition

LINES_HELP = _(
    "One a line: code, English label | Norwegian label. For example: 1, Not at all | Ikke i "
    "det hele tatt"
)
NOTE_HELP = _("Shown in the version history.")


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 60})


def _wide() -> forms.TextInput:
    return forms.TextInput(attrs={"size": 60})


def _norwegian() -> bool:
    return (get_language() or "en")[:2] in {"nb", "no", "nn"}


def item_type_choices() -> list[tuple[str, str]]:
    """The item types with their labels in the current language."""
    index = 1 if _norwegian() else 0
    return [(str(kind), ITEM_TYPE_LABELS[kind][index]) for kind in ItemType]


def item_type_label(kind: str) -> str:
    labels = ITEM_TYPE_LABELS.get(ItemType(kind)) if kind in set(ItemType) else None
    if labels is None:
        return kind
    return labels[1] if _norwegian() else labels[0]


def _text(en: str, nb: str) -> dict[str, str]:
    return Text(en=en.strip(), nb=nb.strip()).to_json()


def parse_lines(text: str, *, numeric: bool = False) -> list[tuple[str, dict[str, str]]]:
    """``code, English | norsk`` lines as (code, label JSON) pairs; blank lines are skipped.

    ``numeric``: the code must be a number (a band's lower bound). Raises ValidationError
    naming the line at fault."""
    rows: list[tuple[str, dict[str, str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        code, comma, label = line.partition(",")
        code, label = code.strip(), label.strip()
        if not comma or not code or not label:
            raise forms.ValidationError(
                _("Line %(n)s: write the code, a comma and the label."),
                code="line",
                params={"n": number},
            )
        if numeric:
            try:
                value = Decimal(code.replace(",", "."))
            except InvalidOperation:
                value = Decimal("NaN")
            if not value.is_finite():
                raise forms.ValidationError(
                    _("Line %(n)s: %(code)s is not a number."),
                    code="number",
                    params={"n": number, "code": code},
                )
        en, _bar, nb = label.partition("|")
        rows.append((code, _text(en, nb)))
    return rows


def format_lines(rows: list[dict[str, Any]], key: str = "code") -> str:
    """The inverse of :func:`parse_lines`, for a form's initial value."""
    lines = []
    for row in rows:
        label = Text.from_json(row.get("label"))
        text = label.en if label.nb in ("", label.en) else f"{label.en} | {label.nb}"
        lines.append(f"{row[key]}, {text}")
    return "\n".join(lines)


class NoteField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("What changed (optional)"))
        kwargs.setdefault("help_text", NOTE_HELP)
        super().__init__(max_length=300, required=False, **kwargs)


class NamesForm(forms.Form):
    name_en = forms.CharField(label=_("Name (English)"), max_length=200, required=False)
    name_nb = forms.CharField(label=_("Name (Norwegian)"), max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("name_en") or data.get("name_nb")):
            self.add_error("name_en", _("Give the instrument a name in at least one language."))
        return data


class NewInstrumentForm(NamesForm):
    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_(
            "Short name used in addresses and file names, e.g. who5. It cannot be changed later."
        ),
    )

    field_order = ["code", "name_en", "name_nb"]


class SettingsForm(NamesForm):
    """An instrument's names and missing-data codes."""

    missing_codes = forms.CharField(
        label=_("Missing-data codes"),
        required=False,
        widget=_textarea(4),
        help_text=_(
            "Codes staff may give instead of an answer, kept apart from blanks. One a line: "
            "code, English label | Norwegian label. For example: refused, Refused to answer | "
            "Vil ikke svare"
        ),
    )
    note = NoteField()

    def clean_missing_codes(self) -> list[dict[str, Any]]:
        rows = parse_lines(self.cleaned_data["missing_codes"])
        return [{"code": code, "label": label} for code, label in rows]

    @staticmethod
    def initial_for(instrument: Instrument, definition: dict[str, Any]) -> dict[str, Any]:
        return {
            "name_en": instrument.name_en,
            "name_nb": instrument.name_nb,
            "missing_codes": format_lines(definition.get("missing_codes", [])),
        }


# Where a fault of check_definition names an item's key, the form field that shows it.
ITEM_FIELDS = {
    "name": "name",
    "type": "type",
    "label": "label_en",
    "required": "required",
    "choices": "choices",
    "min": "minimum",
    "max": "maximum",
    "decimals": "decimals",
    "unit": "unit",
    "pattern": "pattern",
    "max_length": "max_length",
    "show_if": "show_if",
    "note": "note_en",
}


class ItemForm(forms.Form):
    """One item: what it asks, what answers it takes, and when it is shown."""

    name = forms.CharField(
        label=_("Variable name"),
        max_length=40,
        help_text=_(
            "Lower-case letters, digits and underscores, starting with a letter (at most 32 "
            "characters); unique across the trial's instruments. It names the column in exports."
        ),
    )
    label_en = forms.CharField(
        label=_("Label (English)"), max_length=500, required=False, widget=_wide()
    )
    label_nb = forms.CharField(
        label=_("Label (Norwegian)"), max_length=500, required=False, widget=_wide()
    )
    type = forms.ChoiceField(label=_("Type"))
    required = forms.BooleanField(
        label=_("Required"),
        required=False,
        help_text=_("When shown, it needs an answer or a missing-data code."),
    )
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=_textarea(5),
        help_text=_(
            "Single and multiple choice only. One a line: code, English label | Norwegian "
            "label. Whole-number codes can be scored in a scale."
        ),
    )
    minimum = forms.DecimalField(
        label=_("Minimum"),
        required=False,
        max_digits=18,
        decimal_places=6,
        help_text=_("Numbers only."),
    )
    maximum = forms.DecimalField(
        label=_("Maximum"),
        required=False,
        max_digits=18,
        decimal_places=6,
        help_text=_("Numbers only."),
    )
    decimals = forms.IntegerField(
        label=_("Decimals"),
        required=False,
        min_value=0,
        max_value=6,
        help_text=_("Decimal numbers only: at most this many decimals."),
    )
    unit = forms.CharField(
        label=_("Unit"), max_length=40, required=False, help_text=_("E.g. hours, NOK.")
    )
    pattern = forms.CharField(
        label=_("Format check"),
        max_length=200,
        required=False,
        help_text=_(
            "Free text only: a regular expression the whole answer must match, e.g. "
            "[0-9]{4} for four digits."
        ),
    )
    max_length = forms.IntegerField(
        label=_("Longest answer (characters)"),
        required=False,
        min_value=1,
        max_value=10000,
        help_text=_("Free text only; 500 if left empty."),
    )
    show_if = forms.CharField(
        label=_("Show only if"),
        max_length=500,
        required=False,
        widget=_wide(),
        help_text=_(
            "A condition on earlier items in REDCap's syntax, e.g. [in_paid_work] = '1' or "
            "[score] >= 2 and [sex] = 'f'. Leave empty to always show the item."
        ),
    )
    note_en = forms.CharField(
        label=_("Note for staff (English)"), max_length=500, required=False, widget=_textarea(2)
    )
    note_nb = forms.CharField(
        label=_("Note for staff (Norwegian)"), max_length=500, required=False, widget=_textarea(2)
    )

    BASICS = ("name", "label_en", "label_nb", "type", "required")
    ANSWERS = ("choices", "minimum", "maximum", "decimals", "unit", "pattern", "max_length")
    SHOWING = ("show_if", "note_en", "note_nb")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = item_type_choices()  # type: ignore[attr-defined]  # a ChoiceField

    def clean_choices(self) -> list[dict[str, Any]]:
        rows = parse_lines(self.cleaned_data["choices"])
        return [{"code": code, "label": label} for code, label in rows]

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The fields in fieldsets, for the template."""
        return [
            (str(_("The question")), [self[name] for name in self.BASICS]),
            (str(_("Answers")), [self[name] for name in self.ANSWERS]),
            (str(_("When it is shown")), [self[name] for name in self.SHOWING]),
        ]

    def item_json(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """The item as definition JSON: ``base`` (the item being edited, so keys the form does
        not show are kept) with the form's values over it."""
        data = self.cleaned_data
        item: dict[str, Any] = dict(base or {})
        item.update(
            {
                "name": data["name"].strip(),
                "type": data["type"],
                "label": _text(data["label_en"], data["label_nb"]),
                "required": data["required"],
                "choices": data["choices"],
                "min": data["minimum"],
                "max": data["maximum"],
                "decimals": data["decimals"],
                "unit": data["unit"].strip(),
                "pattern": data["pattern"].strip(),
                "max_length": data["max_length"],
                "show_if": data["show_if"].strip(),
                "note": _text(data["note_en"], data["note_nb"]),
            }
        )
        return {
            key: format(value.normalize(), "f") if isinstance(value, Decimal) else value
            for key, value in item.items()
            if value not in (None, "", [])
        }

    @staticmethod
    def initial_for(item: dict[str, Any]) -> dict[str, Any]:
        label = Text.from_json(item.get("label"))
        note = Text.from_json(item.get("note"))
        return {
            "name": item.get("name", ""),
            "label_en": label.en,
            "label_nb": label.nb,
            "type": item.get("type", ItemType.INTEGER),
            "required": bool(item.get("required")),
            "choices": format_lines(item.get("choices", [])),
            "minimum": item.get("min"),
            "maximum": item.get("max"),
            "decimals": item.get("decimals"),
            "unit": item.get("unit", ""),
            "pattern": item.get("pattern", ""),
            "max_length": item.get("max_length"),
            "show_if": item.get("show_if", ""),
            "note_en": note.en,
            "note_nb": note.nb,
        }


class ItemEditForm(ItemForm):
    """An item of an existing instrument, with a note for the version history."""

    change_note = NoteField()


class NewInstrumentItemForm(ItemForm):
    """The first item, asked for with the new instrument (an instrument has at least one)."""


SCALE_FIELDS = {
    "name": "name",
    "label": "label_en",
    "items": "items",
    "method": "method",
    "reverse": "reverse",
    "max_missing": "max_missing",
    "multiplier": "multiplier",
    "decimals": "decimals",
    "bands": "bands",
}


class ScaleForm(forms.Form):
    """A score derived from items: their sum or mean, some reverse-coded, prorated when a few
    are missing, optionally rescaled and banded."""

    name = forms.CharField(
        label=_("Variable name of the score"),
        max_length=40,
        help_text=_("Like an item's variable name, e.g. who5_total."),
    )
    label_en = forms.CharField(label=_("Label (English)"), max_length=500, required=False)
    label_nb = forms.CharField(label=_("Label (Norwegian)"), max_length=500, required=False)
    items = forms.MultipleChoiceField(
        label=_("Items scored"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Numeric items: numbers, yes/no, single choice with whole-number codes."),
    )
    method = forms.ChoiceField(
        label=_("Score"),
        choices=[
            (ScaleMethod.SUM, _("Sum of the items")),
            (ScaleMethod.MEAN, _("Mean of the items")),
        ],
    )
    reverse = forms.MultipleChoiceField(
        label=_("Reverse-coded items"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Scored as lowest + highest − answer; the item needs a minimum and maximum."),
    )
    max_missing = forms.IntegerField(
        label=_("Items that may be missing"),
        min_value=0,
        max_value=1000,
        initial=0,
        help_text=_(
            "With up to this many items unanswered the sum is prorated (the mean of the "
            "answered items times the number of items); with more the score is missing."
        ),
    )
    multiplier = forms.DecimalField(
        label=_("Multiplier"),
        max_digits=18,
        decimal_places=6,
        initial=1,
        help_text=_("The score is multiplied by this (WHO-5's percentage: 4)."),
    )
    decimals = forms.IntegerField(
        label=_("Decimals of the score"), min_value=0, max_value=6, initial=2
    )
    bands = forms.CharField(
        label=_("Bands"),
        required=False,
        widget=_textarea(4),
        help_text=_(
            "Optional. One a line: lowest score, English label | Norwegian label; a band runs "
            "to the next band's lowest score. For example: 10, Moderate | Moderat"
        ),
    )
    change_note = NoteField()

    def __init__(self, *args: Any, item_names: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = item_names  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["reverse"].choices = item_names  # type: ignore[attr-defined]  # a ChoiceField

    def clean_bands(self) -> list[dict[str, Any]]:
        rows = parse_lines(self.cleaned_data["bands"], numeric=True)
        return [
            {"min": format(Decimal(code.replace(",", ".")).normalize(), "f"), "label": label}
            for code, label in rows
        ]

    def scale_json(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        data = self.cleaned_data
        scale: dict[str, Any] = dict(base or {})
        scale.update(
            {
                "name": data["name"].strip(),
                "label": _text(data["label_en"], data["label_nb"]),
                "items": list(data["items"]),
                "method": data["method"],
                "reverse": list(data["reverse"]),
                "max_missing": data["max_missing"],
                "multiplier": format(data["multiplier"].normalize(), "f"),
                "decimals": data["decimals"],
                "bands": data["bands"],
            }
        )
        return {key: value for key, value in scale.items() if value not in (None, "", [])}

    @staticmethod
    def initial_for(scale: dict[str, Any]) -> dict[str, Any]:
        label = Text.from_json(scale.get("label"))
        return {
            "name": scale.get("name", ""),
            "label_en": label.en,
            "label_nb": label.nb,
            "items": scale.get("items", []),
            "method": scale.get("method", ScaleMethod.SUM),
            "reverse": scale.get("reverse", []),
            "max_missing": scale.get("max_missing", 0),
            "multiplier": scale.get("multiplier", 1),
            "decimals": scale.get("decimals", 2),
            "bands": format_lines(scale.get("bands", []), key="min"),
        }


class LibraryScaleForm(forms.Form):
    """Add a validated scale from the library (its items and scoring) to the instrument."""

    key = forms.ChoiceField(label=_("Scale"))
    name_prefix = forms.CharField(
        label=_("Prefix of the variable names (optional)"),
        max_length=32,
        required=False,
        help_text=_(
            "Leave empty to use the scale's own names (e.g. phq9_1). A prefix such as "
            "phq9_m6 gives phq9_m6_1: needed to add the same scale twice."
        ),
    )

    def __init__(self, *args: Any, scales: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = scales  # type: ignore[attr-defined]  # a ChoiceField


if TYPE_CHECKING:
    # Generic for the type checker only (Django's form fields are not subscriptable).
    _VisitChoices = forms.ModelMultipleChoiceField[VisitDefinition]
else:
    _VisitChoices = forms.ModelMultipleChoiceField


class VisitChoiceField(_VisitChoices):
    def label_from_instance(self, obj: VisitDefinition) -> str:
        return visit_label(obj)


class VisitsForm(forms.Form):
    visits = VisitChoiceField(
        label=_("Visits that ask this instrument"),
        queryset=VisitDefinition.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("A visit at month 0 is the baseline."),
    )
    self_completed = VisitChoiceField(
        label=_("Visits where the participant answers it"),
        queryset=VisitDefinition.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_(
            "At these visits the participant gets a personal link by e-mail or SMS when the "
            "window opens and answers on their own phone or computer."
        ),
    )

    def __init__(self, *args: Any, visits: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("visits", "self_completed"):
            field: forms.ModelMultipleChoiceField[VisitDefinition] = self.fields[name]  # type: ignore[assignment]  # declared above
            field.queryset = visits

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        asked = set(data.get("visits") or [])
        extra = [v for v in data.get("self_completed") or [] if v not in asked]
        if extra:
            self.add_error(
                "self_completed",
                _("Only a visit that asks the instrument can have the participant answer it."),
            )
        return data


def visit_label(visit: VisitDefinition) -> str:
    if visit.offset_months == 0:
        return str(_("%(label)s (baseline)") % {"label": visit.label})
    return str(
        _("%(label)s (month %(month)s)") % {"label": visit.label, "month": visit.offset_months}
    )
