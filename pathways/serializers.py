"""API shapes for the state alphabet, spells and sequences (read-only)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from pathways.models import PathwaySettings, Spell, SpellState


class StateSerializer(serializers.ModelSerializer[SpellState]):
    class Meta:
        model = SpellState
        fields = ["code", "label_en", "label_nb", "colour", "priority", "detail"]


class SpellSerializer(serializers.ModelSerializer[Spell]):
    study_id = serializers.CharField(source="participant.study_id")
    state = serializers.CharField(source="state.code")

    class Meta:
        model = Spell
        fields = ["study_id", "state", "starts_on", "ends_on", "source", "detail"]


class SpellFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the spell list."""

    study_id = serializers.CharField(required=False, help_text="One participant's spells.")
    state = serializers.CharField(required=False, help_text="State code.")


class SequenceRowSerializer(serializers.Serializer[Any]):
    study_id = serializers.CharField()
    arm = serializers.CharField(required=False, help_text="Only for users who may see arms.")
    starts_on = serializers.DateField(help_text="The anchor: month 1 starts on this day.")
    states = serializers.ListField(
        child=serializers.CharField(allow_null=True),
        help_text='State code per month; "" for no registered state, null when not observed.',
    )


class SequencePageSerializer(serializers.Serializer[Any]):
    """One page of the sequence table, with how its months were built."""

    count = serializers.IntegerField(help_text="Participants in the whole table.")
    next = serializers.URLField(allow_null=True, help_text="The next page, if any.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, if any.")
    results = SequenceRowSerializer(many=True)
    months = serializers.IntegerField(help_text="Months in every sequence.")
    month_rule = serializers.ChoiceField(
        choices=PathwaySettings.MonthRule.choices,
        help_text="How the state of a month is chosen from the spells in it.",
    )
