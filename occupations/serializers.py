from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from occupations.models import JEMEntry, JobExposureMatrix
from occupations.styrk import Occupation


class OccupationSerializer(serializers.Serializer[Occupation]):
    code = serializers.CharField()
    level = serializers.IntegerField()
    parent = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.parent
    title_nb = serializers.CharField(source="name_nb")
    title_en = serializers.CharField(source="name_en")


class OccupationQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    level = serializers.IntegerField(required=False, min_value=1, max_value=4)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)


class JobExposureMatrixSerializer(serializers.ModelSerializer[JobExposureMatrix]):
    uploaded_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    entries = serializers.IntegerField(source="entries.count", read_only=True)

    class Meta:
        model = JobExposureMatrix
        fields = [
            "id",
            "name",
            "version",
            "source",
            "licence",
            "illustrative",
            "measures",
            "active",
            "file_hash",
            "uploaded_by",
            "uploaded_at",
            "entries",
        ]
        read_only_fields = fields


class JEMEntrySerializer(serializers.ModelSerializer[JEMEntry]):
    class Meta:
        model = JEMEntry
        fields = ["code", "level", "measure", "score"]
        read_only_fields = fields
