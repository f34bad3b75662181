"""The answers API's bodies. Input serializers check the JSON shape only (an answer is a boolean,
a number, a text, a list of codes or null); ``instruments.definition.clean_answers``, called by
the services, says what each item accepts. The per-trial JSON Schema
(``instruments.schema``) describes the items themselves."""

from __future__ import annotations

import math
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import SchemaTypedInput
from instruments.models import Assessment
from trial.text import unstorable_character

SCHEMA_NOTE = (
    "The items are defined per trial: GET /api/v1/trials/{code}/instruments/schema/ gives a JSON "
    "Schema (draft 2020-12) of each instrument version's items (types, codes with labels, "
    "ranges, decimals, formats, required items, missing-data codes, branching)."
)

ANSWER_SCHEMA: dict[str, Any] = {
    "nullable": True,
    "oneOf": [
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "maxLength": 5000},
        {
            "type": "array",
            "items": {"oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 40}]},
        },
    ],
    "description": "One answer: true/false for yes/no, a number, a code (integer or text), a "
    "date as YYYY-MM-DD, a text, or a list of codes for multiple choice; null or left out when "
    "blank.",
}

VALUES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": ANSWER_SCHEMA,
    "description": "Answers by variable name. " + SCHEMA_NOTE,
    "example": {
        "in_paid_work": True,
        "hours_per_week": 20.5,
        "on_benefits": False,
        "self_rated_health": 4,
    },
}

MISSING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "string", "maxLength": 40},
    "description": "Missing-data codes by variable name, for items without an answer (kept "
    "apart from blanks), e.g. refused or dont_know. " + SCHEMA_NOTE,
    "example": {"monthly_earnings": "refused"},
}

SCORES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "number", "nullable": True},
    "description": "Scale scores derived from the answers by variable name; null when too many "
    "of the scale's items are missing.",
}

ANSWER_TEXT_MAX = 5000
CODE_MAX = 40
CHAR_MESSAGES = serializers.CharField.default_error_messages


def _checked_answer(value: Any) -> Any:
    """One answer's JSON shape, or ValidationError."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise serializers.ValidationError(_("Enter a number."))
        return value
    if isinstance(value, str):
        if (character := unstorable_character(value)) is not None:
            raise serializers.ValidationError(
                _("Contains a character that is not allowed: %(character)s.")
                % {"character": character}
            )
        if len(value) > ANSWER_TEXT_MAX:
            raise serializers.ValidationError(
                _("At most %(n)s characters.") % {"n": ANSWER_TEXT_MAX}
            )
        return value
    if isinstance(value, list) and all(
        (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, str) for v in value
    ):
        return [_checked_answer(v) for v in value]
    raise serializers.ValidationError(
        _("Give true or false, a number, a text, or a list of codes.")
    )


@extend_schema_field(VALUES_SCHEMA)
class ValuesField(serializers.Field):
    """Answers by variable name (JSON types checked; the definition checks the rest)."""

    default_error_messages = serializers.DictField.default_error_messages

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        errors: dict[str, list[str]] = {}
        clean: dict[str, Any] = {}
        for name, value in data.items():
            try:
                clean[str(name)] = _checked_answer(value)
            except serializers.ValidationError as exc:
                errors[str(name)] = [str(m) for m in exc.detail]
        if errors:
            raise serializers.ValidationError(errors)
        return clean

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(MISSING_SCHEMA)
class MissingField(serializers.Field):
    """Missing-data codes by variable name."""

    default_error_messages = serializers.DictField.default_error_messages

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        errors: dict[str, list[str]] = {}
        clean: dict[str, str] = {}
        for name, code in data.items():
            if not isinstance(code, str):
                errors[str(name)] = [str(CHAR_MESSAGES["invalid"])]
            elif len(code) > CODE_MAX:
                errors[str(name)] = [str(CHAR_MESSAGES["max_length"]).format(max_length=CODE_MAX)]
            elif (character := unstorable_character(code)) is not None:
                errors[str(name)] = [
                    _("Contains a character that is not allowed: %(character)s.")
                    % {"character": character}
                ]
            else:
                clean[str(name)] = code
        if errors:
            raise serializers.ValidationError(errors)
        return clean

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(SCORES_SCHEMA)
class ScoresField(serializers.ReadOnlyField):
    pass


class AnswersInputSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """Answers to one instrument at one visit."""

    instrument = serializers.SlugField(
        required=False,
        max_length=40,
        help_text=gettext_lazy(
            "The instrument's code; left out: the trial's default instrument "
            "(Employment and benefits)."
        ),
    )
    assessed_on = serializers.DateField()
    values = ValuesField(required=False, default=dict)
    missing = MissingField(required=False, default=dict)
    contamination_reported = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text=gettext_lazy(
            "The answer to the trial's contamination question, if it has one (asked of every "
            "participant; a yes from a control participant is recorded as an exposure)."
        ),
    )


class CorrectionInputSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """New answers for a recorded instrument, and why."""

    assessed_on = serializers.DateField(
        required=False, help_text=gettext_lazy("Left out: the date stays as it is.")
    )
    values = ValuesField(required=False, default=dict)
    missing = MissingField(required=False, default=dict)
    reason = serializers.CharField(
        max_length=500,
        help_text=gettext_lazy("Why the answers are corrected (kept in the audit trail)."),
    )


class AssessmentRecordSerializer(serializers.ModelSerializer[Assessment]):
    """One instrument's answers at one visit, as stored."""

    visit_id = serializers.IntegerField(source="visit.pk", read_only=True)
    study_id = serializers.CharField(source="visit.participant.study_id", read_only=True)
    site = serializers.CharField(source="visit.participant.site.code", read_only=True)
    visit = serializers.CharField(
        source="visit.definition.code",
        read_only=True,
        help_text=gettext_lazy("Visit key, e.g. m6."),
    )
    instrument = serializers.CharField(source="instrument.code", read_only=True)
    version = serializers.IntegerField(
        source="version.number",
        read_only=True,
        help_text=gettext_lazy(
            "The instrument version the answers were entered under (and are checked against)."
        ),
    )
    in_window = serializers.SerializerMethodField(
        help_text=gettext_lazy("Whether the assessment date is inside the visit's window.")
    )
    values = ValuesField(read_only=True)
    missing = MissingField(read_only=True)
    scores = ScoresField()
    recorded_by = serializers.SerializerMethodField(
        help_text=gettext_lazy("The username of who recorded it; null for an import.")
    )

    class Meta:
        model = Assessment
        fields = [
            "id",
            "visit_id",
            "study_id",
            "site",
            "visit",
            "instrument",
            "version",
            "assessed_on",
            "in_window",
            "values",
            "missing",
            "scores",
            "source",
            "recorded_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_in_window(self, assessment: Assessment) -> bool:
        visit = assessment.visit
        return visit.window_start <= assessment.assessed_on <= visit.window_end

    def get_recorded_by(self, assessment: Assessment) -> str | None:
        user = assessment.recorded_by
        return user.get_username() if user is not None else None


class AssessmentFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the assessment list. Dates are inclusive."""

    site = serializers.CharField(required=False, help_text=gettext_lazy("Site code."))
    visit = serializers.CharField(required=False, help_text=gettext_lazy("Visit key, e.g. m6."))
    instrument = serializers.CharField(
        required=False, help_text=gettext_lazy("Instrument code, e.g. employment.")
    )
    participant = serializers.CharField(required=False, help_text=gettext_lazy("Study id."))
    assessed_after = serializers.DateField(
        required=False, help_text=gettext_lazy("Assessed on or after this date.")
    )
    assessed_before = serializers.DateField(
        required=False, help_text=gettext_lazy("Assessed on or before this date.")
    )


class InstrumentSchemaSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    current = serializers.BooleanField(
        help_text=gettext_lazy("The version new answers are recorded under.")
    )
    default = serializers.BooleanField(
        help_text=gettext_lazy("Recorded when a request names no instrument.")
    )
    schema = serializers.DictField(
        child=serializers.JSONField(),
        help_text=gettext_lazy(
            "A JSON Schema (draft 2020-12) of the body that records answers to this version."
        ),
    )


class AnswersSchemaSerializer(serializers.Serializer[Any]):
    trial = serializers.CharField()
    instruments = InstrumentSchemaSerializer(many=True)
