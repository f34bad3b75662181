"""API serializers for fidelity reviews. Totals, bands and agreement are computed by
``fidelity.reviews.figures`` and only shown here; input serializers check shape, the service
the rules."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import SchemaTypedInput


class SectionSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    total = serializers.IntegerField()
    items = serializers.IntegerField()
    minimum = serializers.IntegerField()
    maximum = serializers.IntegerField()


class SummarySerializer(serializers.Serializer[Any]):
    total = serializers.IntegerField(allow_null=True)
    band = serializers.CharField(allow_null=True)
    minimum = serializers.IntegerField()
    maximum = serializers.IntegerField()
    scored = serializers.IntegerField()
    items = serializers.IntegerField()
    sections = SectionSerializer(many=True)


class KappaSerializer(serializers.Serializer[Any]):
    value = serializers.FloatField(allow_null=True)
    observed_agreement = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()
    weights = serializers.CharField()
    reason = serializers.CharField(help_text=_("Why the value is null, if it is."))


class ICCSerializer(serializers.Serializer[Any]):
    n = serializers.IntegerField()
    k = serializers.IntegerField()
    icc2 = serializers.FloatField(allow_null=True, help_text="ICC(2,1)")
    icc3 = serializers.FloatField(allow_null=True, help_text="ICC(3,1)")
    reason = serializers.CharField()


class ItemAgreementSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    scores = serializers.ListField(child=serializers.IntegerField())
    spread = serializers.IntegerField()


class AgreementSerializer(serializers.Serializer[Any]):
    reviewers = serializers.IntegerField()
    exact = serializers.FloatField(allow_null=True)
    within_one = serializers.FloatField(allow_null=True)
    kappa_linear = KappaSerializer(allow_null=True)
    kappa_quadratic = KappaSerializer(allow_null=True)
    icc = ICCSerializer(allow_null=True)
    items = ItemAgreementSerializer(many=True)


class ReviewerResultSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    scores = serializers.DictField(child=serializers.IntegerField())
    summary = SummarySerializer()


class ReviewSerializer(serializers.Serializer[Any]):
    """A review with computed figures; reviewers' scores only once every reviewer scored."""

    id = serializers.IntegerField(source="review.pk")
    site = serializers.CharField(source="review.site.code")
    review_date = serializers.DateField(source="review.review_date")
    status = serializers.CharField(source="review.status")
    scale = serializers.IntegerField(source="review.scale_id")
    scale_version = serializers.CharField(source="review.scale.version")
    consensus = serializers.DictField(child=serializers.IntegerField())
    summary = SummarySerializer(allow_null=True)
    reviewers = serializers.SerializerMethodField()
    agreement = AgreementSerializer()

    def get_reviewers(self, view: Any) -> list[dict[str, Any]]:
        hide = view.review.status == "draft"
        return [
            ReviewerResultSerializer(c).data
            if not hide
            else {"name": c.name, "scores": {}, "summary": None}
            for c in view.reviewers
        ]


class ScoresInputSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """One reviewer's scores of a fidelity review."""

    scores = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=_("The score of every item of the scale, keyed by item number."),
    )
