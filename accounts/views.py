"""The sign-in page, pages for the signed-in user's own account (two-factor sign-in, API
tokens, the password, the welcome after a first single sign-on) and a coordinator's page for a
trial member's API tokens.

Each view has the usual shape: check access, parse the form, call one service in
``accounts.services``, turn its error into a field message, redirect.
"""

from __future__ import annotations

from typing import Any

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import oidc, services
from accounts.forms import CodeForm, SetupForm
from accounts.models import ApiToken, ExternalIdentity
from trial.models import Membership, Trial
from trial.permissions import AuthenticatedHttpRequest, Perm, requires_two_factor
from trial.views import trial_view

NEW_CODES = "two_factor_new_codes"  # session key: recovery codes waiting to be shown once
# Session key: an API token's key waiting to be shown once.
NEW_TOKEN = "api_token_new_key"  # noqa: S105 - the name of a session key


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("trial:home")


class LoginView(auth_views.LoginView):
    """Django's sign-in page, with the single sign-on button beside the password form, or
    instead of it when passwords are off (``PASSWORD_SIGN_IN``)."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["passwords"] = settings.PASSWORD_SIGN_IN
        if oidc.enabled():
            context["sso"] = {
                "name": oidc.provider_name(),
                "url": oidc.start_url(self.get_redirect_url()),
            }
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.PASSWORD_SIGN_IN:
            messages.error(
                request,
                _("Passwords are not used here: sign in with %(provider)s.")
                % {"provider": oidc.provider_name()},
            )
            return redirect(request.get_full_path())
        response: HttpResponse = super().post(request, *args, **kwargs)
        return response


@login_required
@never_cache
@require_http_methods(["GET"])
def welcome(request: HttpRequest) -> HttpResponse:
    """Where a user made by a first single sign-on lands: who they are here, and that access to
    a trial is granted by its coordinator."""
    user = request.user
    context = {
        "identity": ExternalIdentity.objects.filter(user=user.pk).order_by("-created_at").first(),
        "has_access": Membership.objects.filter(user=user.pk).exists(),
    }
    return render(request, "accounts/welcome.html", context)


@login_required
@never_cache
@require_http_methods(["GET"])
def overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "has_two_factor": services.has_two_factor(user),
        "required": requires_two_factor(user),
        "codes_left": services.recovery_codes_left(user),
        "tokens": ApiToken.objects.filter(user=user.pk).active(),
        "token_days": settings.API_TOKEN_DAYS,
        "new_token": request.session.pop(NEW_TOKEN, None),
        "identities": ExternalIdentity.objects.filter(user=user.pk),
        # The second factor of this session came from the identity provider.
        "provider_verified": isinstance(getattr(user, "otp_device", None), ExternalIdentity),
        "passwords": settings.PASSWORD_SIGN_IN and user.has_usable_password(),
    }
    return render(request, "accounts/two_factor.html", context)


@login_required
@require_POST
def new_token(request: HttpRequest) -> HttpResponse:
    """Issue an API token to the signed-in user; its key is shown once on the overview. Bound
    to the second factor as the token endpoint's: with one when the session was verified by
    the authenticator or by the identity provider, none for a session that must be and is
    not."""
    try:
        _token, key = services.issue_token_for_session(
            request.user,
            verified=request.user.is_verified(),  # type: ignore[union-attr]  # django-otp's middleware sets it
        )
    except services.TwoFactorError as error:
        messages.error(request, error.message)
        return redirect("accounts:two_factor")
    request.session[NEW_TOKEN] = key
    return redirect("accounts:two_factor")


@login_required
@require_POST
def revoke_token(request: HttpRequest) -> HttpResponse:
    """Revoke one of the user's own API tokens (the form names it by id)."""
    token_id = request.POST.get("token", "")
    token = (
        ApiToken.objects.filter(user=request.user.pk, pk=token_id).active().first()
        if token_id.isdigit()
        else None
    )
    if token is None:
        messages.error(request, _("That token no longer works, or is not yours."))
    else:
        services.revoke_tokens([token], actor=request.user)
        messages.success(
            request, _("The token starting %(prefix)s is revoked.") % {"prefix": token.prefix}
        )
    return redirect("accounts:two_factor")


@trial_view(Perm.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def member_tokens(request: HttpRequest, trial: Trial, pk: int) -> HttpResponse:
    """A trial member's API tokens that still work; POST revokes them all (say the member
    left, or a laptop was lost). Only for staff of this trial: others are 404."""
    membership = get_object_or_404(Membership.objects.select_related("user"), trial=trial, pk=pk)
    tokens = ApiToken.objects.filter(user=membership.user_id).active().select_related("user")
    if request.method == "POST":
        revoked = services.revoke_tokens(tokens, actor=request.user, trial=trial)
        messages.success(
            request,
            ngettext(
                "%(count)s API token of %(user)s revoked.",
                "%(count)s API tokens of %(user)s revoked.",
                len(revoked),
            )
            % {"count": len(revoked), "user": membership.user.get_username()},
        )
        return redirect("accounts:member_tokens", trial.code, membership.pk)
    context = {"trial": trial, "membership": membership, "tokens": tokens}
    return render(request, "accounts/member_tokens.html", context)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    if services.has_two_factor(user) and not user.is_verified():  # type: ignore[union-attr]  # django-otp's middleware sets it
        # Replacing an authenticator needs the old one first.
        return redirect("accounts:verify")
    device = services.start_setup(user)
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.confirm_setup(device, form.cleaned_data["code"], actor=user)
        except services.TwoFactorError as error:
            form.add_error(error.field, error.message)
        else:
            django_otp.login(request, device)
            request.session[NEW_CODES] = codes
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect("accounts:recovery_codes")
    context: dict[str, Any] = {
        "form": form,
        "qr": services.qr_svg(device),
        "secret": services.secret_base32(device),
        "required": requires_two_factor(user),
        "next": _next(request),
    }
    return render(request, "accounts/setup.html", context)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not services.has_two_factor(user):
        return redirect("accounts:setup")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.verify(user, form.cleaned_data["code"])
        except services.TwoFactorError as error:
            form.add_error(error.field, error.message)
        else:
            django_otp.login(request, device)
            if device.name == services.RECOVERY:
                left = services.recovery_codes_left(user)
                messages.warning(
                    request,
                    _("You signed in with a recovery code; %(left)s are left.") % {"left": left},
                )
            return redirect(_next(request))
    return render(request, "accounts/verify.html", {"form": form, "next": _next(request)})


@login_required
@never_cache
@require_http_methods(["GET"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes just issued, shown once: the session forgets them on this view."""
    codes = request.session.pop(NEW_CODES, None)
    if not codes:
        return redirect("accounts:two_factor")
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
@require_POST
def replace_recovery_codes(request: HttpRequest) -> HttpResponse:
    if not services.has_two_factor(request.user):
        return redirect("accounts:setup")
    request.session[NEW_CODES] = services.new_recovery_codes(request.user, actor=request.user)
    return redirect("accounts:recovery_codes")


@login_required
@require_POST
def disable(request: HttpRequest) -> HttpResponse:
    if requires_two_factor(request.user):
        messages.error(
            request, _("Your role requires two-factor sign-in; it cannot be turned off.")
        )
    else:
        services.disable(request.user, actor=request.user)
        messages.success(request, _("Two-factor sign-in is off."))
    return redirect("accounts:two_factor")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:two_factor")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, _("Your password was changed."))
        return response
