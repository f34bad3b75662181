"""Single sign-on with OpenID Connect, against a real provider (django-oauth-toolkit, in its own
process: tests/oidc_provider/) over real HTTP: the app under pytest-django's live server, a
``requests`` session as the browser following every redirect between the two.

Users are made from the claims on their first sign-in and found by issuer and subject after
that; a provider that vouches for a second factor (``amr``/``acr``) verifies the session, one
that does not leaves the app's own TOTP step; API tokens follow the session's second factor.
Signing out ends the session at the provider too, so the next "Sign in with …" asks again.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from axes.models import AccessAttempt, AccessLog
from django.conf import settings as django_settings
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
LOGIN = "/accounts/login/"
STILL_OPEN = "your session at Test IdP may still be open"


@pytest.fixture(autouse=True)
def _browsers_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every ``requests`` session a test opens is closed after it: a kept-alive connection
    holds a live-server thread, and its database connection, past the test."""
    opened: list[requests.Session] = []
    init = requests.Session.__init__

    def tracked(self: requests.Session) -> None:
        init(self)
        opened.append(self)

    monkeypatch.setattr(requests.Session, "__init__", tracked)
    yield
    for browser in opened:
        browser.close()


@pytest.fixture(scope="module")
def provider(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    port = urlsplit(live_server.url).port
    hosts = ("localhost", "127.0.0.1")
    uris = [f"http://{host}:{port}/accounts/sso/callback/" for host in hosts]
    signed_out = [f"http://{host}:{port}/accounts/login/" for host in hosts]
    with process.running(uris, tmp_path_factory.mktemp("provider"), signed_out) as running:
        yield running


@pytest.fixture
def sso(settings: Any, provider: Provider) -> Provider:
    process.configure(settings, provider)
    # The live server speaks plain http; outside the embedded default cookies are Secure, which
    # a browser sends to http://localhost but ``requests`` does not.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    return provider


def sign_in(
    app: str,
    provider: Provider,
    username: str,
    *,
    next_url: str = "",
    browser: requests.Session | None = None,
) -> tuple[requests.Session, requests.Response]:
    """Click "Sign in with Test IdP" on the app's sign-in page, sign in at the provider's form
    (which must be asked for), and follow the redirects back into the app. Returns the browser
    (a new one unless given) and the page it lands on."""
    browser = browser or requests.Session()
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


# --- signing out ------------------------------------------------------------------------------


def sign_out(browser: requests.Session, app: str) -> tuple[requests.Response, requests.Response]:
    """Press "Log out" (a POST with the CSRF token), and follow the redirects and the answer's
    Refresh as a browser does. Returns the answer to the POST and the page the browser lands
    on (the same when there is no Refresh)."""
    answer = post_form(browser, app, "/accounts/logout/")
    refresh = answer.headers.get("Refresh")
    if refresh is None:
        return answer, answer
    delay, _, target = refresh.partition(";")
    assert delay == "0" and target.strip().startswith("url="), refresh
    return answer, browser.get(target.strip().removeprefix("url="), timeout=30)


def test_signing_out_ends_the_session_at_the_provider_so_the_next_sign_in_asks_again(
    live_server: LiveServer, sso: Provider
) -> None:
    browser, _landing = sign_in(live_server.url, sso, "ada")

    answer, signed_out = sign_out(browser, live_server.url)

    # Signed out here; the page sends the browser on to the provider's end_session_endpoint
    # (a redirect would break the form's CSP, form-action 'self'), which sends it back to the
    # app's sign-in page.
    assert path_of(answer) == "/accounts/logout/"
    assert answer.status_code == 200
    assert "Your browser goes on to Test IdP to sign you out there too" in answer.text
    visited = [r.url for r in signed_out.history]
    assert visited[0].startswith(f"{sso.issuer}/logout/?"), visited
    assert f'href="{html.escape(visited[0])}"' in answer.text  # the link, if the Refresh is not
    query = parse_qs(urlsplit(visited[0]).query)
    assert query["id_token_hint"][0].count(".") == 2  # the ID token, a JWT
    assert query["client_id"] == [sso.client_id]
    assert query["post_logout_redirect_uri"] == [f"{live_server.url}{LOGIN}"]
    assert signed_out.url == f"{live_server.url}{LOGIN}"
    assert STILL_OPEN not in html.unescape(signed_out.text)
    # Signed out here ...
    assert path_of(browser.get(f"{live_server.url}/accounts/two-factor/", timeout=30)) == LOGIN
    # ... and at the provider: on the same browser "Sign in with Test IdP" shows the provider's
    # sign-in form again (sign_in checks it), and the next person gets in as themselves.
    _browser, landing = sign_in(live_server.url, sso, "bob", browser=browser)
    assert path_of(landing) == WELCOME
    assert "bob@example.org" in landing.text


def test_with_provider_sign_out_off_the_provider_session_stays_open_and_the_page_says_so(
    live_server: LiveServer, sso: Provider, settings: Any
) -> None:
    settings.OIDC_PROVIDER_LOGOUT = False
    browser, _landing = sign_in(live_server.url, sso, "ada")

    _answer, signed_out = sign_out(browser, live_server.url)

    assert [path_of(r) for r in signed_out.history] == ["/accounts/logout/"]  # not at the provider
    assert path_of(signed_out) == LOGIN
    assert STILL_OPEN in html.unescape(signed_out.text)
    # What the warning is about: the provider still knows ada, and signs her straight back in.
    page = browser.get(f"{live_server.url}{LOGIN}", timeout=30)
    button = re.search(r'<a class="button sso" href="([^"]+)">', page.text)
    assert button
    back = browser.get(live_server.url + html.unescape(button.group(1)), timeout=30)
    assert back.url == f"{live_server.url}/"
    assert browser.get(f"{live_server.url}/accounts/two-factor/", timeout=30).status_code == 200


def test_a_provider_without_an_end_session_endpoint_signs_out_here_only_and_says_so(
    live_server: LiveServer, sso: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, _landing = sign_in(live_server.url, sso, "ada")
    document = {k: v for k, v in oidc.discovery().items() if k != "end_session_endpoint"}
    monkeypatch.setattr(oidc, "discovery", lambda: document)
    browser.headers["Accept-Language"] = "nb"

    _answer, signed_out = sign_out(browser, live_server.url)

    assert [path_of(r) for r in signed_out.history] == ["/accounts/logout/"]
    assert path_of(signed_out) == LOGIN
    assert "økten din hos Test IdP kan fortsatt være åpen" in html.unescape(signed_out.text)
    assert path_of(browser.get(f"{live_server.url}/accounts/two-factor/", timeout=30)) == LOGIN


def test_a_provider_unreachable_at_sign_out_signs_out_here_with_a_warning(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    process.configure(settings, Provider("http://127.0.0.1:9", "id", "secret"))
    client = Client()
    client.force_login(factories.make_user("kari"))
    session = client.session
    session[oidc.SIGN_OUT] = {"issuer": "http://127.0.0.1:9/o", "id_token": "a.b.c"}
    session.save()

    answer = client.post("/accounts/logout/", follow=True)

    assert answer.redirect_chain == [(LOGIN, 302)]
    assert STILL_OPEN in html.unescape(answer.content.decode())
    assert "_auth_user_id" not in client.session
    assert "Signing out at Test IdP failed" in caplog.text


def test_password_users_sign_out_as_before(live_server: LiveServer, sso: Provider) -> None:
    factories.make_user("kari")
    client = Client()
    signed_in = client.post(LOGIN, {"username": "kari", "password": LOCAL_PASSWORD})
    assert signed_in.status_code == 302
    assert "_auth_user_id" in client.session

    answer = client.post("/accounts/logout/", follow=True)

    assert answer.redirect_chain == [(LOGIN, 302)]  # not to the provider
    assert STILL_OPEN not in html.unescape(answer.content.decode())
    assert "_auth_user_id" not in client.session


def test_signing_out_is_a_post_with_the_csrf_token(live_server: LiveServer, sso: Provider) -> None:
    browser, _landing = sign_in(live_server.url, sso, "ada")
    logout = f"{live_server.url}/accounts/logout/"

    assert browser.get(logout, allow_redirects=False, timeout=30).status_code == 405
    # Without the token, as a form on another site would post it: refused.
    assert browser.post(logout, allow_redirects=False, timeout=30).status_code == 403
    still = browser.get(f"{live_server.url}/accounts/two-factor/", timeout=30)
    assert path_of(still) == "/accounts/two-factor/"

    assert sign_out(browser, live_server.url)[1].url == f"{live_server.url}{LOGIN}"


def test_the_id_token_is_kept_in_the_session_for_signing_out_and_never_logged(
    live_server: LiveServer, sso: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser, _landing = sign_in(live_server.url, sso, "ada")
    session_key = browser.cookies[django_settings.SESSION_COOKIE_NAME]
    store = import_module(django_settings.SESSION_ENGINE).SessionStore
    id_token = store(session_key=session_key)[oidc.SIGN_OUT]["id_token"]
    assert id_token.count(".") == 2

    _answer, signed_out = sign_out(browser, live_server.url)

    assert signed_out.history[0].url.startswith(f"{sso.issuer}/logout/?id_token_hint={id_token}&")
    assert not store().exists(session_key)  # the session that held it is gone
    # The app runs in the live server's threads. This test's own browser (``requests``, in this
    # thread) logs the addresses it opens at DEBUG, the provider's sign-out among them.
    here = threading.current_thread().name
    app_records = [r for r in caplog.records if r.threadName != here]
    assert any(r.name.startswith("urllib3") for r in app_records)  # DEBUG records are caught
    leaks = [r.getMessage() for r in app_records if id_token in r.getMessage()]
    assert not leaks


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


def test_the_test_provider_starts_with_a_client_secret_that_looks_like_an_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A secret from ``token_urlsafe`` starts with "-" once in 64: argparse took it for an
    option, and the provider did not start (CI failed on it)."""
    monkeypatch.setattr(process.secrets, "token_urlsafe", lambda n: "-" + "x" * n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no failed first start either
        with process.running(["http://127.0.0.1:1/cb/"], tmp_path) as provider:
            found = requests.get(
                f"{provider.issuer}/.well-known/openid-configuration", timeout=30
            ).json()
    assert provider.client_secret.startswith("-")
    assert found["issuer"] == provider.issuer
