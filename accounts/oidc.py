"""Single sign-on with OpenID Connect (docs/sso.md).

mozilla-django-oidc does the protocol: the authorization request with state, nonce and a PKCE
verifier kept in the session; the code exchanged at the token endpoint; the ID token's
signature checked against the provider's published keys (JWKS), with its expiry and nonce;
the userinfo request. This module feeds it the provider's endpoints from its discovery
document and adds what it leaves out: the ID token's issuer and audience are checked, users are
found by issuer and subject (``accounts.services.sign_in_identity``), and a second factor the
provider vouches for (``amr``/``acr``) verifies the session as the TOTP step does.

The backend is not in ``AUTHENTICATION_BACKENDS``: only the callback calls it, so a password
sign-in never reaches the provider, and the provider's sign-ins never pass through
``django.contrib.auth.authenticate``, where django-axes counts failures and locks user names
out (that is about passwords). A successful sign-in still sends ``user_logged_in``, which
django-axes records in its access log as it does for a password.

Signing out (``sign_out``, the app's logout URL for everyone) ends the session at the provider
too, for a session that signed in through it (OpenID Connect RP-Initiated Logout 1.0): the ID
token is kept in the session at sign-in and sent back to the provider's end_session_endpoint as
``id_token_hint``. The ID token is a credential: it goes to the provider and nowhere else.

Everything is read from the settings on each request (``OIDC_*`` in config/settings.py), so
nothing here reaches a provider while single sign-on is off: its two URLs answer 404, and
signing out is Django's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import django_otp
import jwt
import requests
from django.conf import settings
from django.contrib import auth, messages
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationRequestView, OIDCLogoutView

from accounts import services

logger = logging.getLogger(__name__)

# The session is signed in through Django's ModelBackend, which loads the user on each request
# (and refuses an inactive one); the provider is asked only at sign-in.
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"
DISCOVERY_SECONDS = 3600  # the discovery document is fetched again after an hour
# Session key: the issuer and the ID token of a sign-in through the provider, for signing out
# there (``provider_logout_url``).
SIGN_OUT = "oidc_sign_out"


class ProviderUnavailable(Exception):
    """The discovery document could not be fetched or does not describe the configured
    provider."""


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def provider_name() -> str:
    return str(settings.OIDC_PROVIDER_NAME)


def start_url(next_url: str = "") -> str:
    """The address of the sign-in button: to the provider, back to ``next_url`` afterwards."""
    url = reverse("accounts:oidc_start")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


# --- the discovery document -------------------------------------------------------------------

_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_discovered_lock = threading.Lock()


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def discovery() -> dict[str, Any]:
    """The provider's metadata (``/.well-known/openid-configuration``), kept for an hour per
    process. Raises ProviderUnavailable when it cannot be fetched, lacks an endpoint this
    client needs, or names another issuer than ``OIDC_ISSUER``."""
    url = settings.OIDC_DISCOVERY_URL
    with _discovered_lock:
        cached = _discovered.get(url)
    if cached is not None and time.monotonic() - cached[0] < DISCOVERY_SECONDS:
        return cached[1]
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"discovery document {url}: {error}") from error
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"discovery document {url} is not a JSON object")
    missing = [
        key
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document.get(key), str)
    ]
    if missing:
        raise ProviderUnavailable(f"discovery document {url} lacks {', '.join(missing)}")
    if not _same_issuer(document["issuer"], settings.OIDC_ISSUER):
        raise ProviderUnavailable(
            f"discovery document {url} names issuer {document['issuer']!r}, "
            f"not OIDC_ISSUER {settings.OIDC_ISSUER!r}"
        )
    with _discovered_lock:
        _discovered[url] = (time.monotonic(), document)
    return document


def library_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, from ours and the discovery document."""
    values: dict[str, Any] = {
        "OIDC_RP_CLIENT_ID": settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SIGN_ALGO": settings.OIDC_SIGN_ALGORITHM,
        "OIDC_RP_IDP_SIGN_KEY": None,
        "OIDC_RP_SCOPES": settings.OIDC_SCOPES,
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_TOKEN_USE_BASIC_AUTH": settings.OIDC_TOKEN_AUTH_METHOD == "client_secret_basic",  # noqa: S105 - a method's name
        "OIDC_AUTHENTICATION_CALLBACK_URL": "accounts:oidc_callback",
        "OIDC_REDIRECT_FIELD_NAME": "next",
        "OIDC_REDIRECT_ALLOWED_HOSTS": [],
        "OIDC_TIMEOUT": settings.OIDC_TIMEOUT,
        "OIDC_PROXY": None,
        "OIDC_VERIFY_SSL": True,
        "OIDC_VERIFY_KID": True,
        "OIDC_ALLOW_UNSECURED_JWT": False,
        "OIDC_STORE_ACCESS_TOKEN": False,
        # The callback keeps the ID token itself, after ``auth.login``: a session the library
        # wrote it to before that would be flushed if another user was signed in.
        "OIDC_STORE_ID_TOKEN": False,
        "OIDC_CREATE_USER": settings.OIDC_CREATE_USERS,
        "OIDC_OP_LOGOUT_URL_METHOD": "accounts.oidc.provider_logout_url",
    }
    if attr in values:
        return values[attr]
    endpoints = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
        "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
        "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
        "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    }
    if attr == "OIDC_OP_USER_ENDPOINT" and not settings.OIDC_USERINFO:
        return None
    if attr in endpoints:
        return discovery().get(endpoints[attr])
    return import_from_settings(attr, *default)


# --- what the ID token says -------------------------------------------------------------------


def vouches_for_second_factor(claims: Mapping[str, Any]) -> bool:
    """Whether the ID token says the user gave a second factor at the provider: ``amr`` holds a
    method of ``OIDC_SECOND_FACTOR_AMR`` (compared without case; ``amr`` may be one string, as
    older ID-porten tokens have it) or ``acr`` is a level in ``OIDC_SECOND_FACTOR_ACR``."""
    amr = claims.get("amr") or []
    methods = [amr] if isinstance(amr, str) else amr if isinstance(amr, list) else []
    wanted = {m.lower() for m in settings.OIDC_SECOND_FACTOR_AMR}
    if any(isinstance(m, str) and m.lower() in wanted for m in methods):
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in settings.OIDC_SECOND_FACTOR_ACR


def check_id_token(claims: Mapping[str, Any], *, issuer: str, client_id: str) -> None:
    """The checks of OpenID Connect Core 3.1.3.7 that mozilla-django-oidc leaves out (it
    checks the signature, the algorithm, expiry and nonce): the issuer is the provider's, the
    token is meant for this client, and it names a subject. Raises SuspiciousOperation."""
    if claims.get("iss") != issuer:
        raise SuspiciousOperation(f"ID token issuer {claims.get('iss')!r} is not {issuer!r}")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience or []
    if client_id not in audiences:
        raise SuspiciousOperation("ID token is not meant for this client (aud)")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SuspiciousOperation("ID token has several audiences and another azp")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SuspiciousOperation("ID token has no usable subject (sub)")


@dataclass(frozen=True)
class Outcome:
    """What the backend found: the sign-in, whether the provider vouched for a second factor,
    and the ID token as the provider sent it (for signing out there; never in a repr)."""

    sign_in: services.SignIn
    second_factor: bool
    id_token: str = field(repr=False)


class Backend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend on our settings, finding users by issuer and subject."""

    get_settings = staticmethod(library_setting)

    def __init__(self) -> None:
        super().__init__()
        self.outcome: Outcome | None = None
        self.refusal: str | None = None

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        """``payload``: the ID token, its signature, expiry and nonce checked."""
        issuer = discovery()["issuer"]
        check_id_token(payload, issuer=issuer, client_id=settings.OIDC_CLIENT_ID)
        userinfo: dict[str, Any] = {}
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if not isinstance(userinfo, dict) or userinfo.get("sub") != payload["sub"]:
                raise SuspiciousOperation("userinfo names another subject than the ID token")
        # Profile claims from either (userinfo is often the fuller); who the user is and how
        # they signed in, from the ID token alone.
        claims = {**payload, **userinfo}
        try:
            sign_in = services.sign_in_identity(
                issuer=issuer,
                subject=payload["sub"],
                claims=claims,
                provider=provider_name(),
                create_users=settings.OIDC_CREATE_USERS,
                link_by_email=settings.OIDC_LINK_BY_EMAIL,
            )
        except services.SignInRefused as refused:
            self.refusal = refused.message
            return None
        self.outcome = Outcome(sign_in, vouches_for_second_factor(payload), id_token)
        return sign_in.user


# --- the views -------------------------------------------------------------------------------


class _Start(OIDCAuthenticationRequestView):
    get_settings = staticmethod(library_setting)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        params = {"ui_locales": get_language() or settings.LANGUAGE_CODE}
        if settings.OIDC_ACR_VALUES:
            params["acr_values"] = settings.OIDC_ACR_VALUES
        return params


_start = _Start.as_view()


def _failed(request: HttpRequest, message: str) -> HttpResponse:
    messages.error(request, message)
    return redirect("login")


def _unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.warning("Single sign-on with %s failed: %s", provider_name(), error)
    return _failed(
        request,
        _(
            "Signing in with %(provider)s did not work. Try again; if it keeps failing, tell "
            "the system's administrator."
        )
        % {"provider": provider_name()},
    )


@never_cache
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """The sign-in button: off to the provider's authorization endpoint."""
    if not enabled():
        raise Http404
    try:
        response: HttpResponse = _start(request)
    except ProviderUnavailable as error:
        return _unavailable(request, error)
    return response


# Failures of the provider, the network or the tokens: the user is told and the log says why.
FAILURES = (
    ProviderUnavailable,
    requests.RequestException,
    SuspiciousOperation,
    jwt.PyJWTError,
    ValueError,
    KeyError,
    TypeError,
    IntegrityError,
)


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the user back (the redirect URI registered with it)."""
    if not enabled():
        raise Http404
    states: dict[str, Any] = request.session.get("oidc_states") or {}
    # Each state is used once, whatever happens next.
    entry = states.pop(request.GET.get("state", ""), None)
    request.session["oidc_states"] = states
    if request.GET.get("error"):
        logger.info(
            "The provider %s answered the sign-in with %s: %s",
            provider_name(),
            request.GET.get("error"),
            request.GET.get("error_description", ""),
        )
        return _failed(
            request, _("%(provider)s did not sign you in.") % {"provider": provider_name()}
        )
    if entry is None or not request.GET.get("code"):
        return _failed(
            request,
            _("This sign-in with %(provider)s was not started here, or is used up. Try again.")
            % {"provider": provider_name()},
        )
    try:
        backend = Backend()
        user = backend.authenticate(
            request, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier")
        )
    except FAILURES as error:
        return _unavailable(request, error)
    if user is None or backend.outcome is None:
        if backend.refusal:
            return _failed(request, backend.refusal)
        return _unavailable(request, SuspiciousOperation("the ID token or its claims"))
    if not user.is_active:
        return _failed(request, _("This account is deactivated."))
    next_url = request.session.pop("oidc_login_next", None) or ""
    auth.login(request, user, backend=SESSION_BACKEND)
    request.session[SIGN_OUT] = {
        "issuer": backend.outcome.sign_in.identity.issuer,
        "id_token": backend.outcome.id_token,
    }
    if backend.outcome.second_factor:
        # As the TOTP step does after a good code (accounts.views.verify).
        django_otp.login(request, backend.outcome.sign_in.identity)
    if backend.outcome.sign_in.created:
        return redirect("accounts:welcome")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)
    return redirect(resolve_url(settings.LOGIN_REDIRECT_URL))


# --- signing out ------------------------------------------------------------------------------


def provider_logout_url(request: HttpRequest) -> str:
    """Where signing out sends the browser (mozilla-django-oidc's ``OIDC_OP_LOGOUT_URL_METHOD``;
    called while the session still holds the sign-in, which then ends).

    After a sign-in through the provider: its end_session_endpoint (from the discovery
    document) with the ID token as ``id_token_hint``, the client id, and this app's sign-in page
    as ``post_logout_redirect_uri``, so that the provider ends its session and sends the browser
    back. When ``OIDC_PROVIDER_LOGOUT`` is off, the provider names no such endpoint, or cannot be
    reached: the sign-in page, with a warning that the provider's session may still be open.
    After a password sign-in, or while single sign-on is off: the sign-in page, as Django's
    logout does. The ID token is never logged."""
    local = resolve_url(settings.LOGOUT_REDIRECT_URL)
    held = request.session.get(SIGN_OUT)
    if (
        not enabled()
        or not isinstance(held, dict)
        or not isinstance(held.get("id_token"), str)
        or not _same_issuer(str(held.get("issuer", "")), settings.OIDC_ISSUER)
    ):
        return local
    endpoint = None
    if settings.OIDC_PROVIDER_LOGOUT:
        try:
            endpoint = discovery().get("end_session_endpoint")
        except ProviderUnavailable as error:
            logger.warning("Signing out at %s failed: %s", provider_name(), error)
    if not isinstance(endpoint, str) or not endpoint:
        messages.warning(
            request,
            _(
                "You are signed out of this system, but your session at %(provider)s may still "
                "be open: the next person to sign in with %(provider)s on this browser may get "
                "in as you. On a shared computer, close the browser."
            )
            % {"provider": provider_name()},
        )
        return local
    query = urlencode(
        {
            "id_token_hint": held["id_token"],
            "client_id": settings.OIDC_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(local),
            "ui_locales": get_language() or settings.LANGUAGE_CODE,
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


class _SignOut(OIDCLogoutView):
    get_settings = staticmethod(library_setting)

    def post(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = super().post(request)
        target = response["Location"]
        if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return response
        # Browsers hold the redirects of a form's submission to the page's Content Security
        # Policy, whose form-action allows only this site: the "Log out" form cannot be
        # redirected to the provider. This page sends the browser on instead (a Refresh, no
        # script), with a link in case it does not.
        page = render(
            request, "accounts/signing_out.html", {"provider": provider_name(), "url": target}
        )
        page["Refresh"] = f"0; url={target}"
        return page


# POST only (GET answers 405) and with the CSRF token, as Django's LogoutView.
sign_out = never_cache(csrf_protect(_SignOut.as_view()))
