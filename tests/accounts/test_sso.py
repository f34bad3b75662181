"""Single sign-on with OpenID Connect, against a real provider (django-oauth-toolkit, in its own
process: tests/oidc_provider/) over real HTTP: the app under pytest-django's live server, a
``requests`` session as the browser following every redirect between the two.

Users are made from the claims on their first sign-in and found by issuer and subject after
that; a provider that vouches for a second factor (``amr``/``acr``) verifies the session, one
that does not leaves the app's own TOTP step; API tokens follow the session's second factor.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.test import Client, RequestFactory
from pytest_django.live_server_helper import LiveServer

from accounts import oidc
from accounts.models import ApiToken, ExternalIdentity
from tests import factories
from tests.conftest import totp_device
from tests.oidc_provider import process
from tests.oidc_provider.people import PASSWORD
from tests.oidc_provider.process import Provider
from trial.models import AuditEvent, Membership

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL_PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password
WELCOME = "/accounts/welcome/"
SETUP = "/accounts/two-factor/set-up/"
VERIFY = "/accounts/two-factor/verify/"


@pytest.fixture(scope="module")
def provider(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    port = urlsplit(live_server.url).port
    uris = [f"http://{host}:{port}/accounts/sso/callback/" for host in ("localhost", "127.0.0.1")]
    with process.running(uris, tmp_path_factory.mktemp("provider")) as running:
        yield running


@pytest.fixture
def sso(settings: Any, provider: Provider) -> Provider:
    process.configure(settings, provider)
    # The live server speaks plain http; outside the embedded default cookies are Secure, which
    # a browser sends to http://localhost but ``requests`` does not.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    return provider


def sign_in(
    app: str, provider: Provider, username: str, *, next_url: str = ""
) -> tuple[requests.Session, requests.Response]:
    """Click "Sign in with Test IdP" on the app's sign-in page, sign in at the provider, and
    follow the redirects back into the app. Returns the browser and the page it lands on."""
    browser = requests.Session()
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    page = browser.get(f"{app}/accounts/login/{query}", timeout=30)
    button = re.search(r'<a class="button sso" href="([^"]+)">Sign in with Test IdP</a>', page.text)
    assert button, page.text
    at_provider = browser.get(app + html.unescape(button.group(1)), timeout=30)
    assert at_provider.url.startswith(f"{provider.url}/login/"), at_provider.url
    back = browser.post(
        at_provider.url,
        data={
            "csrfmiddlewaretoken": browser.cookies["provider_csrftoken"],
            "username": username,
            "password": PASSWORD,
        },
        timeout=30,
    )
    assert back.status_code == 200, back.text
    assert back.url.startswith(app), back.url
    return browser, back


def path_of(response: requests.Response) -> str:
    return urlsplit(response.url).path


def grant(user: User, role: str = Membership.Role.COORDINATOR) -> None:
    trial = factories.make_trial(code="ips", title="IPS trial")
    factories.make_site(trial, "OSLA")
    factories.make_membership(user, trial, role)


def post_form(browser: requests.Session, app: str, path: str, **data: str) -> requests.Response:
    """POST as the page's own form would, with the app's CSRF token."""
    page = browser.get(f"{app}/accounts/two-factor/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.url
    return browser.post(
        f"{app}{path}",
        data={"csrfmiddlewaretoken": token.group(1), **data},
        headers={"Referer": page.url},
        timeout=30,
    )


# --- the flow, end to end ---------------------------------------------------------------------


def test_first_sign_in_makes_a_user_from_the_claims_and_the_next_finds_the_same_user(
    live_server: LiveServer, sso: Provider
) -> None:
    browser, landing = sign_in(live_server.url, sso, "ada")

    # A new user with no access: the welcome page says who they are and whom to ask.
    assert path_of(landing) == WELCOME
    assert "Ask your trial's coordinator for access" in html.unescape(landing.text)
    assert "ada@example.org" in landing.text
    user = User.objects.get()
    assert (user.username, user.first_name, user.last_name, user.email) == (
        "ada@example.org",
        "Ada",
        "Lovelace",
        "ada@example.org",
    )
    assert not user.has_usable_password()
    assert not Membership.objects.filter(user=user).exists()
    identity = ExternalIdentity.objects.get()
    assert (identity.user, identity.issuer, identity.name) == (user, sso.issuer, "Test IdP")
    assert identity.subject  # the provider's sub
    event = AuditEvent.objects.get(action="account.created_from_sign_in")
    assert event.data["issuer"] == sso.issuer
    assert event.actor == user
    # Recorded as a password sign-in is, in django-axes' access log.
    assert AccessLog.objects.filter(username="ada@example.org").count() == 1
    first_login = identity.last_login

    # Signed in: the app's pages open.
    assert browser.get(f"{live_server.url}/accounts/two-factor/", timeout=30).status_code == 200

    # A second sign-in, from another browser, finds the same user by issuer and subject.
    _browser, landing = sign_in(live_server.url, sso, "ada")
    assert path_of(landing) == "/"
    assert User.objects.count() == 1
    identity.refresh_from_db()
    assert identity.last_login is not None and first_login is not None
    assert identity.last_login > first_login
    assert AccessLog.objects.filter(username="ada@example.org").count() == 2


def test_without_a_second_factor_from_the_provider_the_apps_own_totp_step_follows(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    sign_in(live_server.url, sso, "bob")  # bob's amr is ["pwd"]
    bob = User.objects.get(username="bob@example.org")
    grant(bob)  # a coordinator must use two-factor sign-in

    browser, landing = sign_in(live_server.url, sso, "bob", next_url="/trials/ips/")
    assert path_of(landing) == SETUP  # no authenticator yet: set one up first
    assert "next=%2Ftrials%2Fips%2F" in landing.url
    assert path_of(browser.get(f"{live_server.url}/trials/ips/", timeout=30)) == SETUP

    # With an authenticator, the code is asked for, as after a password.
    totp_device(bob)
    _browser, landing = sign_in(live_server.url, sso, "bob", next_url="/trials/ips/")
    assert path_of(landing) == VERIFY


def test_a_second_factor_vouched_for_by_the_provider_verifies_the_session(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    sign_in(live_server.url, sso, "ada")  # ada's amr holds "mfa"
    ada = User.objects.get(username="ada@example.org")
    grant(ada)

    browser, landing = sign_in(live_server.url, sso, "ada", next_url="/trials/ips/")
    assert path_of(landing).startswith("/trials/ips/")  # no TOTP step
    security = browser.get(f"{live_server.url}/accounts/two-factor/", timeout=30)
    assert "Your identity provider vouched for a second factor" in security.text


def test_an_acr_level_in_the_configured_set_vouches_for_a_second_factor(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    # idun signs in as at ID-porten: no name, amr "BankID", acr idporten-loa-high.
    settings.TWO_FACTOR_REQUIRED = True
    sign_in(live_server.url, sso, "idun")
    idun = User.objects.get()
    assert re.fullmatch(r"sso-[0-9a-f]{10}", idun.username)
    assert (idun.first_name, idun.last_name, idun.email) == ("", "", "")
    grant(idun)

    _browser, landing = sign_in(live_server.url, sso, "idun", next_url="/trials/ips/")
    assert path_of(landing) == SETUP  # the level is not trusted yet
    settings.OIDC_SECOND_FACTOR_ACR = ["idporten-loa-substantial", "idporten-loa-high"]
    _browser, landing = sign_in(live_server.url, sso, "idun", next_url="/trials/ips/")
    assert path_of(landing).startswith("/trials/ips/")


# --- API tokens follow the session's second factor ------------------------------------------


def test_a_session_verified_by_the_provider_gets_an_api_token_bound_to_the_second_factor(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    sign_in(live_server.url, sso, "ada")
    ada = User.objects.get()
    grant(ada)
    browser, _landing = sign_in(live_server.url, sso, "ada")

    answer = post_form(browser, live_server.url, "/accounts/api-tokens/new/")
    key = re.search(r'<code id="new-token">([0-9a-f]{40})</code>', answer.text)
    assert key, answer.text
    token = ApiToken.objects.get()
    assert (token.user, token.two_factor) == (ada, True)
    # The token opens what a coordinator who gave a second factor may open.
    api = requests.get(
        f"{live_server.url}/api/v1/trials/",
        headers={"Authorization": f"Token {key.group(1)}"},
        timeout=30,
    )
    assert api.status_code == 200, api.text
    # Shown once.
    assert key.group(1) not in browser.get(f"{live_server.url}/accounts/two-factor/").text


def test_a_session_without_the_second_factor_gets_no_api_token(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    sign_in(live_server.url, sso, "bob")
    bob = User.objects.get()
    grant(bob)
    browser, _landing = sign_in(live_server.url, sso, "bob")

    csrf = browser.cookies["csrftoken"]
    answer = browser.post(
        f"{live_server.url}/accounts/api-tokens/new/",
        data={"csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/accounts/two-factor/"},
        timeout=30,
    )
    assert path_of(answer) == SETUP
    assert not ApiToken.objects.exists()


def test_the_token_of_a_session_without_a_second_factor_says_so(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    # A caseworker need not use a second factor: the token is issued, without it, and stops
    # working if they become a coordinator (accounts/authentication.py).
    settings.TWO_FACTOR_REQUIRED = True
    sign_in(live_server.url, sso, "bob")
    bob = User.objects.get()
    grant(bob, Membership.Role.CASEWORKER)
    browser, _landing = sign_in(live_server.url, sso, "bob")
    post_form(browser, live_server.url, "/accounts/api-tokens/new/")
    assert ApiToken.objects.get().two_factor is False


# --- matching users ---------------------------------------------------------------------------


def test_a_local_user_is_never_found_by_name(live_server: LiveServer, sso: Provider) -> None:
    local = factories.make_user("ada@example.org")
    sign_in(live_server.url, sso, "ada")
    made = ExternalIdentity.objects.get().user
    assert made != local
    assert made.username == "ada@example.org-2"


def test_a_verified_email_links_to_the_local_user_only_when_allowed(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    local = factories.make_user("ada", email="Ada@Example.org")
    sign_in(live_server.url, sso, "ada")
    assert ExternalIdentity.objects.get().user != local  # off by default

    ExternalIdentity.objects.all().delete()
    User.objects.exclude(pk=local.pk).delete()
    settings.OIDC_LINK_BY_EMAIL = True
    _browser, landing = sign_in(live_server.url, sso, "ada")
    assert ExternalIdentity.objects.get().user == local
    assert User.objects.count() == 1
    assert path_of(landing) == "/"  # not a new user: no welcome
    event = AuditEvent.objects.get(action="account.identity_linked")
    assert event.data["by"] == "verified e-mail address"


def test_without_user_creation_an_unknown_identity_is_refused(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    settings.OIDC_CREATE_USERS = False
    _browser, landing = sign_in(live_server.url, sso, "bob")
    assert path_of(landing) == "/accounts/login/"
    assert "No account here is linked to your Test IdP account" in landing.text
    assert not User.objects.exists()


def test_a_deactivated_user_is_not_signed_in(live_server: LiveServer, sso: Provider) -> None:
    sign_in(live_server.url, sso, "bob")
    User.objects.update(is_active=False)
    browser, landing = sign_in(live_server.url, sso, "bob")
    assert path_of(landing) == "/accounts/login/"
    assert "This account is deactivated." in landing.text
    assert path_of(browser.get(f"{live_server.url}/", timeout=30)) == "/accounts/login/"


# --- passwords and lock-outs ------------------------------------------------------------------


def test_a_password_lock_out_does_not_stop_single_sign_on(
    live_server: LiveServer, sso: Provider
) -> None:
    sign_in(live_server.url, sso, "ada")
    client = Client(REMOTE_ADDR="127.0.0.1")
    for _ in range(5):
        client.post("/accounts/login/", {"username": "ada@example.org", "password": "wrong"})
    assert AccessAttempt.objects.get(username="ada@example.org").failures_since_start == 5
    _browser, landing = sign_in(live_server.url, sso, "ada")
    assert path_of(landing) == "/"


def test_with_passwords_off_the_sign_in_page_offers_only_the_provider(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    settings.PASSWORD_SIGN_IN = False
    factories.make_user("kari")
    client = Client()
    page = client.get("/accounts/login/")
    assert b"Sign in with Test IdP" in page.content
    assert b'name="password"' not in page.content
    refused = client.post("/accounts/login/", {"username": "kari", "password": LOCAL_PASSWORD})
    assert refused.status_code == 302
    assert "_auth_user_id" not in client.session
    request = RequestFactory().post("/admin/login/")
    assert authenticate(request, username="kari", password=LOCAL_PASSWORD) is None
    token = client.post(
        "/api/v1/auth/token/",
        {"username": "kari", "password": LOCAL_PASSWORD},
        content_type="application/json",
    )
    assert token.status_code == 400
    assert "Passwords are not used here" in token.json()["detail"]
    # The provider still signs people in.
    _browser, landing = sign_in(live_server.url, sso, "ada")
    assert path_of(landing) == WELCOME


def test_the_sign_in_page_offers_both_when_configured_and_only_passwords_otherwise(
    settings: Any,
) -> None:
    settings.OIDC_ISSUER = ""
    page = Client().get("/accounts/login/")
    assert b"Sign in with" not in page.content
    assert b'name="password"' in page.content
    assert Client().get("/accounts/sso/start/").status_code == 404
    assert Client().get("/accounts/sso/callback/").status_code == 404
    process.configure(settings, Provider("http://127.0.0.1:9", "id", "secret"))
    page = Client().get("/accounts/login/?next=/trials/ips/")
    assert b"Sign in with Test IdP" in page.content
    assert b"/accounts/sso/start/?next=%2Ftrials%2Fips%2F" in page.content
    assert b'name="password"' in page.content


# --- failures ---------------------------------------------------------------------------------


def test_an_unreachable_provider_is_a_message_not_an_error(settings: Any, tmp_path: Path) -> None:
    process.configure(settings, Provider("http://127.0.0.1:9", "id", "secret"))
    client = Client()
    answer = client.get("/accounts/sso/start/", follow=True)
    assert answer.redirect_chain[-1][0] == "/accounts/login/"
    assert b"Signing in with Test IdP did not work" in answer.content


def test_a_callback_that_was_not_started_here_is_refused(
    live_server: LiveServer, sso: Provider
) -> None:
    client = Client()
    answer = client.get("/accounts/sso/callback/?code=stolen&state=made-up", follow=True)
    assert b"was not started here, or is used up" in answer.content
    assert "_auth_user_id" not in client.session
    answer = client.get("/accounts/sso/callback/?error=access_denied&state=x", follow=True)
    assert b"Test IdP did not sign you in" in answer.content


def test_a_replayed_callback_signs_no_one_in(live_server: LiveServer, sso: Provider) -> None:
    browser = requests.Session()
    at_provider = browser.get(f"{live_server.url}/accounts/sso/start/", timeout=30)
    callback = browser.post(
        at_provider.url,
        data={
            "csrfmiddlewaretoken": browser.cookies["provider_csrftoken"],
            "username": "ada",
            "password": PASSWORD,
        },
        allow_redirects=False,
        timeout=30,
    )
    authorize = browser.get(
        urljoin(at_provider.url, callback.headers["Location"]), allow_redirects=False, timeout=30
    )
    redirect_uri = authorize.headers["Location"]
    assert "/accounts/sso/callback/?" in redirect_uri
    assert browser.get(redirect_uri, timeout=30).url.endswith(WELCOME)
    # The same code and state again, in another browser and in the same one.
    stranger = requests.Session().get(redirect_uri, timeout=30)
    assert path_of(stranger) == "/accounts/login/"
    again = browser.get(redirect_uri, timeout=30)
    assert "was not started here, or is used up" in again.text


# --- what the ID token must say ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "amr", "acr", "vouched"),
    [
        ({"amr": ["pwd", "mfa"]}, ["mfa"], [], True),
        ({"amr": ["pwd"]}, ["mfa"], [], False),
        ({"amr": ["PWD", "OTP"]}, ["otp"], [], True),  # without case
        ({"amr": "BankID"}, ["bankid"], [], True),  # one string, as older ID-porten tokens
        ({"acr": "idporten-loa-high"}, [], ["idporten-loa-high"], True),
        ({"acr": "idporten-loa-substantial"}, [], ["idporten-loa-high"], False),
        ({"acr": "Level4"}, ["mfa"], ["Level4"], True),
        ({}, ["mfa"], ["Level4"], False),
        ({"amr": {"mfa": True}}, ["mfa"], [], False),  # not a list: nothing
    ],
)
def test_which_claims_vouch_for_a_second_factor(
    settings: Any, claims: dict[str, Any], amr: list[str], acr: list[str], vouched: bool
) -> None:
    settings.OIDC_SECOND_FACTOR_AMR = amr
    settings.OIDC_SECOND_FACTOR_ACR = acr
    assert oidc.vouches_for_second_factor(claims) is vouched


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://evil.example/", "aud": "app", "sub": "1"},
        {"iss": "https://idp.example/", "aud": "another app", "sub": "1"},
        {"iss": "https://idp.example/", "aud": ["app", "other"], "azp": "other", "sub": "1"},
        {"iss": "https://idp.example/", "aud": "app"},
        {"iss": "https://idp.example/", "aud": "app", "sub": ""},
    ],
)
def test_an_id_token_of_another_issuer_or_client_or_without_subject_is_refused(
    claims: dict[str, Any],
) -> None:
    with pytest.raises(SuspiciousOperation):
        oidc.check_id_token(claims, issuer="https://idp.example/", client_id="app")
    oidc.check_id_token(
        {"iss": "https://idp.example/", "aud": ["app", "x"], "azp": "app", "sub": "1"},
        issuer="https://idp.example/",
        client_id="app",
    )
