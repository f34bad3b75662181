"""Keep a signed-in user who has, or must have, a second factor on the two-factor pages until
the session is verified.

This sits after django-otp's ``OTPMiddleware`` (which gives ``request.user.is_verified()``).
Users with a confirmed authenticator are sent to enter a code; users who must use two-factor
sign-in (``trial.permissions.requires_two_factor``) and have none are sent to set one up. API
requests on such a session get 403 instead of a redirect. The permission layer refuses the
sensitive capabilities to unverified sessions as well, so a page left out here is still safe.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import services
from trial.permissions import requires_two_factor


def _open_paths() -> tuple[str, ...]:
    """Paths an unverified session may use: signing in and out (also through the identity
    provider, which may vouch for a second factor this time), the two-factor pages, the
    language switch, static files and the health check."""
    return (
        reverse("login"),
        reverse("logout"),
        reverse("accounts:oidc_start"),
        reverse("accounts:oidc_callback"),
        reverse("accounts:verify"),
        reverse("accounts:setup"),
        reverse("set_language"),
        "/" + settings.STATIC_URL.lstrip("/"),
        reverse("health"),
    )


class TwoFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()  # type: ignore[attr-defined]  # django-otp's middleware sets it
            and not request.path.startswith(_open_paths())
        ):
            has_device = services.has_two_factor(user)
            if has_device or requires_two_factor(user):
                return self._refuse(request, has_device)
        return self.get_response(request)

    def _refuse(self, request: HttpRequest, has_device: bool) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"detail": _("This session must be verified with a second factor.")}, status=403
            )
        target = reverse("accounts:verify" if has_device else "accounts:setup")
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return redirect(target)
