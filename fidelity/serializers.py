"""API serializers the fidelity sub-domains share: the trial's components, and inputs that name
the trial's sites and components by code. Input serializers check the shape of a request; each
sub-domain's services enforce the rules."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from config.api import SchemaTypedInput
from fidelity.models import Component
from trial.models import Site


class ComponentSerializer(serializers.ModelSerializer[Component]):
    class Meta:
        model = Component
        fields = ["code", "name", "description", "intervention_specific", "order"]


class ComponentCodes(serializers.ListField):
    """Codes of the trial's intervention components, turned into Component objects.

    The view gives the trial's components once (``bind_components``), so a list of codes costs
    no query per code.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", _("Codes of the intervention components delivered."))
        super().__init__(child=serializers.CharField(max_length=30), **kwargs)
        self.known: dict[str, Component] = {}

    def to_internal_value(self, data: Any) -> list[Component]:
        codes = super().to_internal_value(data)
        unknown = [code for code in codes if code not in self.known]
        if unknown:
            raise serializers.ValidationError(
                _("Unknown intervention component: %(codes)s.") % {"codes": ", ".join(unknown)}
            )
        return [self.known[code] for code in codes]


def bind_components(serializer: serializers.Serializer[Any], components: Any) -> None:
    field: ComponentCodes = serializer.fields["components"]  # type: ignore[assignment]  # declared as one
    field.known = {c.code: c for c in components}


class TrialBoundInput(SchemaTypedInput, serializers.Serializer[Any]):
    """Input whose ``site`` and ``components`` fields take the trial's own, given once by the
    view (both default to None so that drf-spectacular can build the serializer for the
    schema)."""

    def __init__(
        self,
        *args: Any,
        sites: QuerySet[Site] | None = None,
        components: QuerySet[Component] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if sites is not None:
            self.fields["site"].queryset = sites  # type: ignore[attr-defined]  # a ModelChoiceField
        if components is not None:
            bind_components(self, components)
