"""API serializers of electronic consent. A consent record never carries the typed name."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import SchemaTypedInput
from surveys.consent.models import ConsentRecord, ConsentText


class ConsentTextSerializer(serializers.ModelSerializer[ConsentText]):
    class Meta:
        model = ConsentText
        fields = [
            "id",
            "version",
            "text_nb",
            "text_en",
            "effective_on",
            "status",
            "published_at",
            "created_at",
        ]


class ConsentTextInputSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """A draft's label, texts and effective date (the response is a ConsentTextSerializer)."""

    version = serializers.CharField(max_length=40)
    text_nb = serializers.CharField(help_text=_("The text in bokmål (plain text, small markup)."))
    text_en = serializers.CharField(help_text=_("The text in English."))
    effective_on = serializers.DateField()


class ReconsentSerializer(serializers.Serializer[Any]):
    asked = serializers.IntegerField(help_text=_("Participants asked now."))
    asked_in_all = serializers.IntegerField()
    consented = serializers.IntegerField()
    declined = serializers.IntegerField()


class ConsentRecordSerializer(serializers.ModelSerializer[ConsentRecord]):
    """A consent or refusal as recorded: no typed name, ever."""

    participant = serializers.CharField(source="participant.study_id", read_only=True)
    version = serializers.CharField(source="text.version", read_only=True)
    language = serializers.CharField(read_only=True, help_text=_("nb or en: the text shown."))
    recorded_by = serializers.SerializerMethodField()

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "participant",
            "version",
            "outcome",
            "language",
            "channel",
            "recorded_at",
            "signed_on",
            "recorded_by",
            "text_sha256",
            "pdf_sha256",
        ]

    def get_recorded_by(self, record: ConsentRecord) -> str:
        return record.recorded_by.get_username() if record.recorded_by else ""
