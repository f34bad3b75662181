"""REST API for the unit-cost table: statisticians read it, coordinators add rows. Overlaps and
unknown keys answer 400 with the field at fault (the rules are in economics.services)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from economics import services
from economics.models import UnitCost
from economics.serializers import UnitCostInputSerializer, UnitCostSerializer
from trial.api import TrialScopedMixin, service_errors
from trial.permissions import AuthenticatedRequest, Perm


class UnitCostList(TrialScopedMixin, generics.ListAPIView[UnitCost]):
    """The trial's unit costs and rates (arms by code)."""

    serializer_class = UnitCostSerializer
    trial_perm = Perm.ORDER_REPORT
    write_perm = Perm.KEEP_UNIT_COSTS
    pagination_class = None

    def get_queryset(self) -> QuerySet[UnitCost]:
        return UnitCost.objects.filter(trial=self.get_trial()).select_related("arm")

    @extend_schema(
        request=UnitCostInputSerializer,
        responses={201: UnitCostSerializer},
        summary="Add a unit cost",
        description="A validity period overlapping a row of the same kind, key and arm is "
        "refused (400) with both rows named.",
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        serializer = UnitCostInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        arm_code = values.pop("arm")
        arm = None
        if arm_code:
            arm = trial.arms.filter(code=arm_code).first()
            if arm is None:
                raise serializers.ValidationError({"arm": [_("Unknown arm.")]})
        with service_errors():
            row = services.save_unit_cost(trial, actor=request.user, arm=arm, **values)
        return Response(UnitCostSerializer(row).data, status=status.HTTP_201_CREATED)
