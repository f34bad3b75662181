"""End to end in headless Chromium: "Sign in with …" on the sign-in page, the sign-in at the
identity provider (the local test provider, tests/oidc_provider/, in its own process), and back
in the app: a first sign-in lands on the welcome page of a user without access; once a
coordinator has granted a role, the next sign-in goes straight to the trial, the provider's
second factor standing in for the app's TOTP step. Signing out ends the session at the provider
too, so the next "Sign in with …" asks for the password again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import ExternalIdentity
from tests import factories
from tests.browser.conftest import Console
from tests.oidc_provider import process
from tests.oidc_provider.people import PASSWORD
from tests.oidc_provider.process import Provider
from trial.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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


def url_of(live_server: LiveServer, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(live_server.url + path) + r"(\?.*)?$")


def test_sign_in_with_the_identity_provider_and_land_in_the_app(
    live_server: LiveServer,
    provider: Provider,
    page: Page,
    console: Console,
    screenshots: Path,
    settings: Any,
) -> None:
    process.configure(settings, provider)
    settings.TWO_FACTOR_REQUIRED = True  # ada's provider vouches for her second factor
    trial = factories.make_trial(code="ips", title="IPS trial")
    factories.make_site(trial, "OSLA")

    # 1. The sign-in page offers the provider beside the password form.
    page.goto(live_server.url + "/", timeout=60_000)
    expect(page).to_have_url(url_of(live_server, "/accounts/login/"))
    button = page.get_by_role("link", name="Sign in with Test IdP")
    expect(button).to_be_visible()
    expect(page.locator("#id_password")).to_be_visible()
    page.screenshot(path=screenshots / "sso-sign-in.png", full_page=True)

    # 2. At the provider, then back: a new user, who must ask for access.
    button.click()
    expect(page).to_have_url(re.compile(re.escape(provider.url) + r"/login/"))
    page.locator("#id_username").fill("ada")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in at the provider").click()
    expect(page).to_have_url(url_of(live_server, "/accounts/welcome/"))
    expect(page.locator("h1")).to_have_text("Welcome, Ada Lovelace")
    expect(page.locator("main")).to_contain_text("Ask your trial's coordinator for access")
    expect(page.locator("main")).to_contain_text("ada@example.org")
    page.screenshot(path=screenshots / "sso-welcome.png", full_page=True)
    ada = User.objects.get(username="ada@example.org")
    assert ExternalIdentity.objects.get().user == ada

    # 3. The coordinator grants a role that needs a second factor; ada signs out, here and at
    # the provider (through its sign-out and back), and in again: the provider asks again.
    factories.make_membership(ada, trial, Membership.Role.COORDINATOR)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(url_of(live_server, "/accounts/login/"))
    expect(page.locator("main")).not_to_contain_text("may still be open")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page).to_have_url(re.compile(re.escape(provider.url) + r"/login/"))
    page.locator("#id_username").fill("ada")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in at the provider").click()
    # Her provider vouched for a second factor: no TOTP step.
    expect(page).to_have_url(url_of(live_server, "/trials/ips/"))
    expect(page.locator("h1")).to_have_text("IPS trial")
    page.goto(live_server.url + "/accounts/two-factor/")
    expect(page.locator("main")).to_contain_text(
        "Your identity provider vouched for a second factor"
    )
    page.screenshot(path=screenshots / "sso-security.png", full_page=True)

    # 4. In Norwegian, the button reads as it should.
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Norsk").click()
    expect(page.get_by_role("link", name="Logg inn med Test IdP")).to_be_visible()
    page.screenshot(path=screenshots / "sso-sign-in-nb.png", full_page=True)
    assert not console.errors, "\n".join(console.errors)
