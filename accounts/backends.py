"""The switch for password sign-in (``PASSWORD_SIGN_IN``).

First in ``AUTHENTICATION_BACKENDS``: when passwords are off (single sign-on only), every
``authenticate`` call with a password stops here, wherever it comes from (the sign-in page,
the admin site's sign-in, the API token endpoint). The sign-in page and the token endpoint
say so before they get here; this makes it hold for every other way in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class PasswordSignInSwitch:
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if password is not None and not settings.PASSWORD_SIGN_IN:
            raise PermissionDenied("password sign-in is off")
        return None
