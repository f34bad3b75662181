"""Issuing API tokens. A user who has, or must have, a second factor gets a token only with a
current code from it as well as the password: the token then stands for a completed two-factor
sign-in, and requests made with it are not asked again (see docs/decisions.md)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken

from accounts import services
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


class TokenRequestSerializer(AuthTokenSerializer):
    otp_token = serializers.CharField(
        label=_("Two-factor code"),
        required=False,
        allow_blank=True,
        write_only=True,
        help_text=_("Required for users with two-factor sign-in: a current code from the app."),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
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


class ObtainToken(ObtainAuthToken):
    serializer_class = TokenRequestSerializer
    # DRF leaves its token view unthrottled; password guessing is what throttles are for.
    throttle_classes = [AnonThrottle, UserThrottle]


obtain_token = ObtainToken.as_view()
