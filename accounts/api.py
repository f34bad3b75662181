"""API tokens: issuing, listing and revoking one's own.

A user who has, or must have, a second factor gets a token only with a current code from it
as well as the password: the token then stands for a completed two-factor sign-in and says so
(``ApiToken.two_factor``), and requests made with it are not asked again. A token issued
without one stops working when the user's roles come to need one (accounts/authentication.py).
Tokens expire after ``API_TOKEN_DAYS``; users revoke theirs here or on their "Sign-in
security" page (see docs/security.md), where a signed-in session can also get one (users of
single sign-on have no password for this endpoint).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import ApiToken
from config.api import ErrorSerializer
from config.throttles import AnonThrottle, UserThrottle
from trial.permissions import requires_two_factor


class SignInLocked(exceptions.Throttled):
    """429 with Retry-After: the user name is locked out from this address (django-axes)."""

    def __init__(self, wait: int) -> None:
        message = _(
            "Too many failed sign-ins for this user name from this address. "
            "Try again in %(seconds)s seconds."
        ) % {"seconds": wait}
        exceptions.APIException.__init__(self, message, "throttled")
        self.wait = wait


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(label=_("Username"), write_only=True)
    password = serializers.CharField(
        label=_("Password"),
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
    )
    otp_token = serializers.CharField(
        label=_("Two-factor code"),
        required=False,
        allow_blank=True,
        write_only=True,
        help_text=_("Required for users with two-factor sign-in: a current code from the app."),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
        if not settings.PASSWORD_SIGN_IN:
            raise serializers.ValidationError(
                _(
                    "Passwords are not used here. Sign in with %(provider)s in the browser and "
                    "get a token on your Sign-in security page."
                )
                % {"provider": settings.OIDC_PROVIDER_NAME},
                code="authorization",
            )
        user = authenticate(request=request, username=attrs["username"], password=attrs["password"])
        if user is None:
            # django-axes refused the user name from this address (too many failures, this
            # one perhaps the last): say so and when to try again, as the sign-in page does.
            if getattr(request, "axes_locked_out", False):
                raise SignInLocked(services.sign_in_wait(request, attrs["username"]))
            raise serializers.ValidationError(
                _("Unable to log in with provided credentials."), code="authorization"
            )
        attrs["user"] = user
        attrs["two_factor"] = False
        if services.has_two_factor(user):
            code = attrs.get("otp_token", "")
            if not code:
                raise serializers.ValidationError(
                    {"otp_token": [_("A two-factor code is required for this user.")]}
                )
            try:
                services.verify(user, code)
            except services.TwoFactorError as error:
                raise serializers.ValidationError({"otp_token": [error.message]}) from None
            attrs["two_factor"] = True
        elif requires_two_factor(user):
            raise serializers.ValidationError(
                {
                    "otp_token": [
                        _(
                            "This user must set up two-factor sign-in in the browser before "
                            "an API token can be issued."
                        )
                    ]
                }
            )
        return attrs


class TokenSerializer(serializers.ModelSerializer[ApiToken]):
    current = serializers.SerializerMethodField(
        help_text="Whether this request was made with this token."
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "prefix",
            "two_factor",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "current",
        ]
        extra_kwargs = {
            "prefix": {"help_text": "The first characters of the key, to tell tokens apart."},
            "two_factor": {"help_text": "Issued after a code from a second factor."},
        }

    def get_current(self, token: ApiToken) -> bool:
        request = self.context.get("request")
        return request is not None and getattr(request, "auth", None) == token


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.SerializerMethodField(
        help_text="The key, for the header 'Authorization: Token KEY'. Shown only now: keep it."
    )

    class Meta(TokenSerializer.Meta):
        fields = ["token", *TokenSerializer.Meta.fields]

    def get_token(self, token: ApiToken) -> str:
        key: str = self.context["key"]
        return key


class ObtainToken(APIView):
    # Anyone may ask (the password is the credential), and a stale token in the header must
    # not stand in the way of getting a new one. DRF leaves its own token view unthrottled;
    # password guessing is what throttles are for.
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes = [AnonThrottle, UserThrottle]

    @extend_schema(
        summary="Get an API token with username and password (and a two-factor code)",
        request=TokenRequestSerializer,
        responses={
            200: IssuedTokenSerializer,
            429: OpenApiResponse(
                ErrorSerializer,
                description="Too many requests, or too many failed sign-ins for this user name "
                "from this address: wait the seconds in the Retry-After header.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = TokenRequestSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        user = body.validated_data["user"]
        token, key = services.issue_token(
            user, two_factor=body.validated_data["two_factor"], actor=user
        )
        return Response(IssuedTokenSerializer(token, context={"key": key}).data)


@extend_schema(summary="The signed-in user's API tokens that still work, newest first")
class TokenList(generics.ListAPIView[ApiToken]):
    serializer_class = TokenSerializer

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=self.request.user.pk).active()


class RevokeTokenSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(
        min_value=1, help_text="The id of one of the user's tokens (see the token list)."
    )


class TokenRevocation(APIView):
    @extend_schema(
        summary="Revoke one of the signed-in user's API tokens (it stops working at once)",
        request=RevokeTokenSerializer,
        responses={200: TokenSerializer},
    )
    def post(self, request: Request) -> Response:
        body = RevokeTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token = (
            ApiToken.objects.filter(user=request.user.pk, pk=body.validated_data["id"])
            .active()
            .select_related("user")
            .first()
        )
        if token is None:
            raise serializers.ValidationError(
                {"id": [_("You have no token with this id that still works.")]}
            )
        services.revoke_tokens([token], actor=request.user)
        return Response(TokenSerializer(token, context={"request": request}).data)


obtain_token = ObtainToken.as_view()
token_list = TokenList.as_view()
token_revocation = TokenRevocation.as_view()
