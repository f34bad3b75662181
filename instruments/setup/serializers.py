"""The API's shape of instruments and their definitions.

The definition is described field by field (items, choices, scales, bands, missing-data codes,
with their types, patterns and enumerations), so the OpenAPI schema tells a client exactly
what an instrument may hold and generated clients can check it. The serializers check shape
only; ``instruments.rules.check_definition`` (through the services) checks the rules:
unique names, choices only on choice items, conditions on earlier items, scales over numeric
items. Numbers of a definition (``min``, ``max``, ``multiplier``, a band's ``min``) are decimal
strings, as stored.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import SchemaTypedInput
from instruments.definition import CODE, ITEM_TYPE_LABELS, ItemType, ScaleMethod, name_rule
from instruments.models import InstrumentVersion

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
name_validator = RegexValidator(NAME_PATTERN, lazy(name_rule, str)())
code_validator = RegexValidator(
    CODE.pattern, _("Letters, digits, dots, underscores and hyphens, at most 40.")
)


def _number(help_text: str, **kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=18,
        decimal_places=6,
        normalize_output=True,
        help_text=help_text,
        **kwargs,
    )


class InstrumentTextSerializer(serializers.Serializer[Any]):
    """A label in English and Norwegian (bokmål); either may be empty, the other is shown."""

    en = serializers.CharField(max_length=500, allow_blank=True, default="")
    nb = serializers.CharField(max_length=500, allow_blank=True, default="")


class InstrumentChoiceSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(
        max_length=40,
        validators=[code_validator],
        help_text=_(
            "The stored answer: an integer literal is stored as an integer, anything "
            "else as the code string."
        ),
    )
    label = InstrumentTextSerializer()  # type: ignore[assignment]  # a declared field


class InstrumentItemSerializer(serializers.Serializer[Any]):
    """One item (question) of an instrument."""

    name = serializers.CharField(
        max_length=32,
        validators=[name_validator],
        help_text=_("The variable name, unique across the trial's instruments."),
    )
    type = serializers.ChoiceField(
        choices=[(str(kind), ITEM_TYPE_LABELS[kind][0]) for kind in ItemType],
        help_text=_(
            "yesno: true/false; integer; decimal; choice: one code; multi: a list of "
            "codes; date: YYYY-MM-DD; text; occupation: a STYRK-08 code."
        ),
    )
    label = InstrumentTextSerializer()  # type: ignore[assignment]  # a declared field
    required = serializers.BooleanField(  # type: ignore[assignment]  # a declared field
        default=False, help_text=_("When shown, an answer or a missing-data code is needed.")
    )
    choices = InstrumentChoiceSerializer(  # type: ignore[call-arg]  # many=True takes the list's bounds
        many=True,
        required=False,
        max_length=200,
        help_text=_("For choice and multi items only, which need at least one."),
    )
    min = _number("Numbers only: the lowest answer allowed.", required=False)
    max = _number("Numbers only: the highest answer allowed.", required=False)
    decimals = serializers.IntegerField(
        min_value=0,
        max_value=6,
        required=False,
        help_text=_("Decimal items only: at most this many."),
    )
    unit = serializers.CharField(max_length=40, allow_blank=True, required=False)
    pattern = serializers.CharField(
        max_length=200,
        allow_blank=True,
        required=False,
        help_text=_("Text items only: a regular expression the whole answer must match."),
    )
    max_length = serializers.IntegerField(
        min_value=1, max_value=10000, required=False, help_text=_("Text items only; 500 if absent.")
    )
    show_if = serializers.CharField(
        max_length=500,
        allow_blank=True,
        required=False,
        help_text=_(
            "A branching condition on earlier items in REDCap's syntax, e.g. "
            "\"[in_paid_work] = '1'\"; absent or empty: always shown."
        ),
    )
    note = InstrumentTextSerializer(required=False)


class InstrumentBandSerializer(serializers.Serializer[Any]):
    min = _number("A score from this value up to the next band's min is in this band.")
    label = InstrumentTextSerializer()  # type: ignore[assignment]  # a declared field


class InstrumentScaleSerializer(serializers.Serializer[Any]):
    """A score derived from items of the instrument."""

    name = serializers.CharField(
        max_length=32,
        validators=[name_validator],
        help_text=_("The score's variable name, unique across the trial's instruments."),
    )
    label = InstrumentTextSerializer()  # type: ignore[assignment]  # a declared field
    items = serializers.ListField(
        child=serializers.CharField(max_length=40),
        min_length=1,
        max_length=500,
        help_text=_("Names of the items scored (numeric items of this instrument)."),
    )
    method = serializers.ChoiceField(
        choices=[(str(method), str(method)) for method in ScaleMethod],
        default=str(ScaleMethod.SUM),
    )
    reverse = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=500,
        help_text=_("Items scored reversed (lowest + highest - answer)."),
    )
    max_missing = serializers.IntegerField(
        min_value=0,
        max_value=1000,
        default=0,
        help_text=_(
            "With up to this many items unanswered the sum is prorated; with more the "
            "score is missing."
        ),
    )
    multiplier = _number("The score is multiplied by this; 1 if absent.", required=False)
    decimals = serializers.IntegerField(min_value=0, max_value=6, default=2)
    bands = InstrumentBandSerializer(many=True, required=False, max_length=50)  # type: ignore[call-arg]  # many=True takes the list's bounds
    library = serializers.CharField(
        max_length=40,
        allow_blank=True,
        required=False,
        help_text=_("The key of the library scale this was added from, if any."),
    )


class InstrumentMissingCodeSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(max_length=40, validators=[code_validator])
    label = InstrumentTextSerializer()  # type: ignore[assignment]  # a declared field


class InstrumentDefinitionSerializer(serializers.Serializer[Any]):
    """What an instrument asks: its items in order, its scales and its missing-data codes."""

    items = InstrumentItemSerializer(many=True, max_length=1000)  # type: ignore[call-arg]  # many=True takes the list's bounds
    scales = InstrumentScaleSerializer(many=True, required=False, max_length=100)  # type: ignore[call-arg]  # many=True takes the list's bounds
    missing_codes = InstrumentMissingCodeSerializer(  # type: ignore[call-arg]  # many=True takes the list's bounds
        many=True,
        required=False,
        max_length=20,
        help_text=_(
            "Codes given instead of an answer (not asked, refused…), kept apart from blanks."
        ),
    )


class InstrumentVersionSerializer(serializers.ModelSerializer[InstrumentVersion]):
    created_by = serializers.CharField(
        source="created_by.username", allow_null=True, read_only=True
    )
    answers = serializers.IntegerField(
        source="n_answers", read_only=True, help_text=_("Answers entered under this version.")
    )

    class Meta:
        model = InstrumentVersion
        fields = ["number", "created_at", "created_by", "note", "answers"]


class InstrumentSerializer(serializers.Serializer[Any]):
    """An instrument as the list shows it."""

    code = serializers.SlugField()
    name_en = serializers.CharField(allow_blank=True)
    name_nb = serializers.CharField(allow_blank=True)
    builtin = serializers.CharField(
        allow_blank=True, help_text=_("The built-in instrument this was made from, if any.")
    )
    version = serializers.IntegerField(help_text=_("The current version's number."))
    item_count = serializers.IntegerField()
    scale_count = serializers.IntegerField()
    visits = serializers.ListField(
        child=serializers.CharField(), help_text=_("Codes of the visits that ask the instrument.")
    )
    answer_count = serializers.IntegerField(help_text=_("Answers in all versions."))


class InstrumentDetailSerializer(InstrumentSerializer):
    """An instrument with its current definition and its versions."""

    current_version_answered = serializers.BooleanField(
        help_text=_("Answers exist for the current version: a change will make a new version.")
    )
    definition = InstrumentDefinitionSerializer(help_text=_("The current version's definition."))
    versions = InstrumentVersionSerializer(many=True)


class InstrumentRevisionSerializer(InstrumentDetailSerializer):
    change = serializers.ChoiceField(
        choices=[
            ("revised", "revised"),
            ("versioned", "versioned"),
            ("unchanged", "unchanged"),
        ],
        help_text=_(
            "revised: the current version had no answers and was changed in place; "
            "versioned: answers exist, so the change was saved as a new version (see version); "
            "unchanged: the definition was the same."
        ),
    )


class InstrumentCreateSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    code = serializers.SlugField(
        max_length=40, help_text=_("Short name used in URLs and file names; cannot change later.")
    )
    name_en = serializers.CharField(max_length=200, allow_blank=True, default="")
    name_nb = serializers.CharField(max_length=200, allow_blank=True, default="")
    definition = InstrumentDefinitionSerializer()
    note = serializers.CharField(max_length=300, allow_blank=True, default="")


class InstrumentUpdateSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """A new definition (PUT; PATCH may leave it out to change only the names)."""

    definition = InstrumentDefinitionSerializer()
    name_en = serializers.CharField(max_length=200, allow_blank=True, required=False)
    name_nb = serializers.CharField(max_length=200, allow_blank=True, required=False)
    note = serializers.CharField(
        max_length=300,
        allow_blank=True,
        default="",
        help_text=_("What changed, for the version history."),
    )


class VisitsSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    visits = serializers.ListField(
        child=serializers.SlugField(max_length=20),
        max_length=100,
        help_text=_(
            "Codes of the trial's visits (follow-up schedule) that ask the instrument, "
            "exactly these; a visit at month 0 is the baseline. A visit with answers to the "
            "instrument cannot be left out."
        ),
    )
