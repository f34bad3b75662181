"""API tokens: bound to the second factor for roles that need one, expiring, revocable by their
user (page and API) and by a trial's coordinator for its staff, each step audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from tests import factories
from tests.conftest import World, api_token, totp_code, totp_device, verified_login
from trial.models import AuditEvent, Membership
from trial.setup.services import update_membership

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password
TOKEN_URL = "/api/v1/auth/token/"  # noqa: S105 - a path, not a secret


@pytest.fixture(autouse=True)
def required(settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = True


def with_token(key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


def promote_to_coordinator(world: World, persona: str) -> None:
    membership = Membership.objects.get(user=world.users[persona], trial=world.trial)
    update_membership(
        membership, role=Membership.Role.COORDINATOR, actor=world.users["coordinator"]
    )


def test_a_token_without_a_second_factor_stops_working_when_the_role_needs_one(
    world: World,
) -> None:
    issued = Client().post(TOKEN_URL, {"username": "caseworker", "password": PASSWORD})
    assert issued.status_code == 200
    assert issued.json()["two_factor"] is False
    api = with_token(issued.json()["token"])
    assert api.get("/api/v1/trials/ips/participants/").status_code == 200
    promote_to_coordinator(world, "caseworker")
    for response in (
        api.get("/api/v1/trials/ips/reports/"),
        api.post(
            "/api/v1/trials/ips/reports/",
            {"kind": "data", "cut_off": "2025-01-01"},
            content_type="application/json",
        ),
        api.get("/api/v1/trials/ips/allocations/"),
        api.get("/api/v1/trials/ips/participants/"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"
        assert "second factor" in response.json()["detail"]
    # With a code from an authenticator the (now) coordinator gets a token that works.
    device = totp_device(world.users["caseworker"])
    again = Client().post(
        TOKEN_URL,
        {"username": "caseworker", "password": PASSWORD, "otp_token": totp_code(device.key)},
    )
    assert again.status_code == 200 and again.json()["two_factor"] is True
    assert with_token(again.json()["token"]).get("/api/v1/trials/ips/reports/").status_code == 200


def test_a_token_refused_after_promotion_is_also_refused_for_staff_users(world: World) -> None:
    key = api_token(world.users["monitor"], two_factor=False)
    assert with_token(key).get("/api/v1/trials/").status_code == 200
    monitor = world.users["monitor"]
    monitor.is_staff = True
    monitor.save(update_fields=["is_staff"])
    assert with_token(key).get("/api/v1/trials/").status_code == 401


def test_tokens_expire_after_the_configured_days(world: World, settings: Any) -> None:
    settings.API_TOKEN_DAYS = 10
    key = api_token(world.users["caseworker"], two_factor=False)
    token = ApiToken.objects.get()
    assert token.expires_at - token.created_at == dt.timedelta(days=10)
    with time_machine.travel(timezone.now() + dt.timedelta(days=9, hours=23)):
        assert with_token(key).get("/api/v1/trials/").status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(days=10, minutes=1)):
        expired = with_token(key).get("/api/v1/trials/")
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_the_default_lifetime_is_thirty_days(settings: Any) -> None:
    assert settings.API_TOKEN_DAYS == 30


def test_only_a_digest_of_the_key_is_kept_and_issuing_is_audited(world: World) -> None:
    issued = Client().post(TOKEN_URL, {"username": "monitor", "password": PASSWORD}).json()
    key = issued["token"]
    token = ApiToken.objects.get(pk=issued["id"])
    assert token.digest != key and key not in token.digest and token.prefix == key[:8]
    assert set(issued) >= {"token", "id", "prefix", "expires_at", "two_factor"}
    event = AuditEvent.objects.get(action="account.api_token_issued")
    assert event.actor == world.users["monitor"] and key not in str(event.data)
    # Each request issues another token; the first keeps working.
    second = Client().post(TOKEN_URL, {"username": "monitor", "password": PASSWORD}).json()
    assert second["token"] != key
    assert with_token(key).get("/api/v1/trials/").status_code == 200


def test_users_revoke_their_own_tokens_on_the_sign_in_security_page(world: World) -> None:
    mine = api_token(world.users["caseworker"])
    theirs = api_token(world.users["monitor"])
    page = verified_login(Client(), world.users["caseworker"])
    overview = page.get("/accounts/two-factor/").content.decode()
    assert mine[:8] in overview and theirs[:8] not in overview
    their_token = ApiToken.objects.get(user=world.users["monitor"])
    refused = page.post("/accounts/api-tokens/revoke/", {"token": their_token.pk}, follow=True)
    assert "no longer works, or is not yours" in refused.content.decode()
    assert with_token(theirs).get("/api/v1/trials/").status_code == 200
    my_token = ApiToken.objects.get(user=world.users["caseworker"])
    done = page.post("/accounts/api-tokens/revoke/", {"token": my_token.pk})
    assert done.status_code == 302
    assert with_token(mine).get("/api/v1/trials/").status_code == 401
    event = AuditEvent.objects.get(action="account.api_token_revoked")
    assert event.actor == world.users["caseworker"] and event.trial is None
    after = page.get("/accounts/two-factor/").content.decode()
    assert f"<code>{mine[:8]}…</code>" not in after  # the success message still names it
    assert "You have no API tokens that still work." in after
    assert page.post("/accounts/api-tokens/revoke/", {"token": "x"}).status_code == 302


def test_users_list_and_revoke_their_tokens_through_the_api(world: World) -> None:
    first = api_token(world.users["caseworker"])
    second = api_token(world.users["caseworker"])
    theirs = api_token(world.users["monitor"])
    api = with_token(first)
    listed = api.get("/api/v1/auth/tokens/").json()["results"]
    assert [(t["prefix"], t["current"]) for t in listed] == [(second[:8], False), (first[:8], True)]
    url = "/api/v1/auth/tokens/revocation/"
    other = ApiToken.objects.get(user=world.users["monitor"])
    refused = api.post(url, {"id": other.pk}, content_type="application/json")
    assert refused.status_code == 400 and "id" in refused.json()["errors"]
    assert with_token(theirs).get("/api/v1/trials/").status_code == 200
    revoked = api.post(url, {"id": listed[0]["id"]}, content_type="application/json")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert with_token(second).get("/api/v1/trials/").status_code == 401
    again = api.post(url, {"id": listed[0]["id"]}, content_type="application/json")
    assert again.status_code == 400
    assert api.post(url, {}, content_type="application/json").status_code == 400
    assert AuditEvent.objects.filter(action="account.api_token_revoked").count() == 1


def test_a_coordinator_revokes_the_tokens_of_a_member_of_the_trial(world: World) -> None:
    key = api_token(world.users["caseworker"])
    membership = Membership.objects.get(user=world.users["caseworker"], trial=world.trial)
    url = f"/trials/ips/setup/members/{membership.pk}/api-tokens/"
    coordinator = world.client("coordinator")
    assert "/api-tokens/" in coordinator.get("/trials/ips/setup/").content.decode()
    assert key[:8] in coordinator.get(url).content.decode()
    assert coordinator.post(url).status_code == 302
    assert with_token(key).get("/api/v1/trials/").status_code == 401
    event = AuditEvent.objects.get(action="account.api_token_revoked")
    assert event.trial == world.trial and event.actor == world.users["coordinator"]
    assert event.data["user"] == "caseworker"
    # Members without the right get 403; others, and other trials' members, 404.
    assert world.client("caseworker").get(url).status_code == 403
    assert world.client("outsider").get(url).status_code == 404
    foreign = Membership.objects.get(user=world.users["outsider"])
    assert coordinator.get(f"/trials/ips/setup/members/{foreign.pk}/api-tokens/").status_code == 404


def test_the_token_pages_are_in_norwegian(world: World) -> None:
    api_token(world.users["caseworker"])
    page = verified_login(Client(), world.users["caseworker"])
    text = page.get("/accounts/two-factor/", HTTP_ACCEPT_LANGUAGE="nb").content.decode()
    assert "API-nøkler" in text and "Trekk tilbake" in text


def test_an_administrator_revokes_tokens_in_the_admin_site(world: World) -> None:
    key = api_token(world.users["caseworker"])
    admin_user = factories.make_user("admin", is_staff=True, is_superuser=True)
    client = verified_login(Client(), admin_user)
    listing = client.get("/admin/accounts/apitoken/")
    assert listing.status_code == 200 and key[:8] in listing.content.decode()
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403
    token = ApiToken.objects.get()
    done = client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert done.status_code == 302
    assert with_token(key).get("/api/v1/trials/").status_code == 401
    assert AuditEvent.objects.get(action="account.api_token_revoked").actor == admin_user
