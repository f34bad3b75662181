"""The mail or SMS provider reports bounces and opt-outs (``POST /api/v1/surveys/bounces/``).

No user: the provider sends the shared secret ``SURVEY_PROVIDER_SECRET`` in the
``X-Provider-Secret`` header, compared in constant time; without the header the answer is 403;
with no secret configured the endpoint does not exist (404). It is throttled per client
address before the secret is looked at, so guessing is slow. The body names the message by
the invitation's reference (in the SMS gateway's request) or the e-mail's Message-ID, never
by an address, number or name. See
docs/participant-questionnaires.md.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    throttle_classes,
)
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from config.throttles import AnonThrottle
from surveys import delivery
from surveys.models import Invitation

SECRET_HEADER = "X-Provider-Secret"  # noqa: S105 - a header name, not a secret


class ProviderThrottle(AnonThrottle):
    scope = "surveys_provider"


class ProviderReportSerializer(serializers.Serializer[Any]):
    reference = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="The invitation's reference, as the SMS gateway received it.",
    )
    message_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="The Message-ID of the e-mail that came back.",
    )
    event = serializers.ChoiceField(
        choices=[
            (delivery.ProviderEvent.BOUNCE, gettext_lazy("bounce")),
            (delivery.ProviderEvent.OPT_OUT, gettext_lazy("opt-out")),
        ],
        default=delivery.ProviderEvent.BOUNCE,
    )
    detail = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="The provider's reason."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        reference = attrs.get("reference", "")
        message_id = attrs.get("message_id", "")
        if not reference and not message_id:
            raise serializers.ValidationError(
                {"reference": [_("Give the invitation's reference or the message id.")]}
            )
        field = "reference" if reference else "message_id"
        invitation = delivery.find_by_reference(reference or message_id)
        if invitation is None:
            raise serializers.ValidationError({field: [_("No invitation has this reference.")]})
        attrs["invitation"] = invitation
        return attrs


class ProviderReportResultSerializer(serializers.Serializer[Any]):
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Invitation.Status.choices)


def _check_secret(request: Request) -> None:
    """A request without the header is refused (403), as the schema's required header says;
    with the header and no secret configured the endpoint is not there (404)."""
    if SECRET_HEADER not in request.headers:
        raise exceptions.PermissionDenied(_("The provider secret is missing or wrong."))
    expected = settings.SURVEY_PROVIDER_SECRET
    if not expected:
        raise exceptions.NotFound
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise exceptions.PermissionDenied(_("The provider secret is missing or wrong."))


@extend_schema(
    request=ProviderReportSerializer,
    responses={
        200: ProviderReportResultSerializer,
        403: OpenApiResponse(description="The provider secret is missing or wrong."),
        404: OpenApiResponse(description="No provider secret is configured: no endpoint."),
    },
    parameters=[OpenApiParameter(SECRET_HEADER, str, OpenApiParameter.HEADER, required=True)],
    summary="Report a bounced message or an opt-out (mail or SMS provider)",
    description="Authenticated by the shared secret in X-Provider-Secret (403 without it, 404 "
    "when none is configured). A bounce stops that invitation's messages by its channel; an "
    "opt-out stops every message to the participant. Safe to repeat.",
    auth=[],
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([ProviderThrottle])
def provider_report(request: Request) -> Response:
    """Record what the provider reports (``delivery.record_provider_report``)."""
    _check_secret(request)
    serializer = ProviderReportSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    invitation = delivery.record_provider_report(
        data["invitation"], event=data["event"], detail=data.get("detail", "")
    )
    return Response(
        ProviderReportResultSerializer(
            {"reference": delivery.reference_for(invitation), "status": invitation.status}
        ).data
    )
