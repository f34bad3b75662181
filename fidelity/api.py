"""The API's list of the trial's intervention components: what the contact log, site-level
events and adaptations name by code. Each sub-domain's endpoints are in its ``api.py``."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import generics

from fidelity.models import Component
from fidelity.serializers import ComponentSerializer
from trial.api import TrialScopedMixin


class ComponentList(TrialScopedMixin, generics.ListAPIView[Component]):
    """The trial's intervention components, in their order."""

    serializer_class = ComponentSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Component]:
        return Component.objects.filter(trial=self.get_trial()).order_by("order", "code")
