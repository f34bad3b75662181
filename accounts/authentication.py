"""API token authentication: DRF's ``Authorization: Token KEY`` header, checked against
``accounts.ApiToken``.

A token is refused (401) when it is unknown, revoked or expired, when its user is inactive,
and when it was issued without a second factor to a user whose roles now need one
(``trial.permissions.requires_two_factor``): a token taken while the user was a caseworker
stops working the moment the user becomes a coordinator, instead of bypassing the second
factor the browser asks for. The rule is checked on every request, so it also holds when a
role changes in the admin site or a user is made staff.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import ApiToken
from trial.permissions import requires_two_factor

# last_used_at is written at most this often per token, not on every request.
LAST_USED_STEP = dt.timedelta(hours=1)


class ApiTokenAuthentication(TokenAuthentication):
    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = (
            ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(key)).first()
        )
        if token is None or not token.user.is_active:
            raise AuthenticationFailed(_("Invalid token."))
        now = timezone.now()
        if token.revoked_at is not None:
            raise AuthenticationFailed(_("This token was revoked. Request a new one."))
        if token.expires_at <= now:
            raise AuthenticationFailed(_("This token has expired. Request a new one."))
        if not token.two_factor and requires_two_factor(token.user):
            raise AuthenticationFailed(
                _(
                    "This token was issued without a second factor, which your role now "
                    "requires. Request a new token with a code from your authenticator app."
                )
            )
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_STEP:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
