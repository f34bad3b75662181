"""API serializers for fidelity scales: every version with its items, anchors and bands."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from fidelity.models import Scale, ScaleItem


class BandSerializer(serializers.Serializer[Any]):
    min = serializers.IntegerField()
    max = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # the band's label, not Field.label


class ScaleItemSerializer(serializers.ModelSerializer[ScaleItem]):
    class Meta:
        model = ScaleItem
        fields = ["number", "section", "title", "description", "anchors"]


class ScaleSerializer(serializers.ModelSerializer[Scale]):
    items = ScaleItemSerializer(many=True, read_only=True)
    bands = BandSerializer(many=True, read_only=True)
    previous: serializers.PrimaryKeyRelatedField[Scale] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )

    class Meta:
        model = Scale
        fields = [
            "id",
            "name",
            "version",
            "source",
            "notes",
            "min_level",
            "max_level",
            "bands",
            "template",
            "previous",
            "items",
        ]
