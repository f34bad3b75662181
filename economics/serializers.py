"""API shapes of the unit-cost table: arms by code, one serializer per direction."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from economics.models import UnitCost


class UnitCostSerializer(serializers.ModelSerializer[UnitCost]):
    arm = serializers.CharField(source="arm.code", allow_null=True, default=None)

    class Meta:
        model = UnitCost
        fields = [
            "id",
            "kind",
            "key",
            "arm",
            "amount",
            "price_year",
            "valid_from",
            "valid_to",
            "note",
        ]


class UnitCostInputSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=UnitCost.Kind.choices)
    key = serializers.CharField(max_length=40, allow_blank=True, default="")
    arm = serializers.CharField(
        max_length=20, allow_blank=True, allow_null=True, default=None, help_text="Arm code."
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=0)
    price_year = serializers.IntegerField(min_value=1900, max_value=2200)
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True, default=None)
    note = serializers.CharField(max_length=200, allow_blank=True, default="")
