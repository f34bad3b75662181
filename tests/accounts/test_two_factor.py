"""Two-factor sign-in (TOTP): required for roles that can unblind or download data, optional
for everyone else; set-up, recovery codes, throttling, the permission layer and API tokens."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from django.utils import timezone
from django_otp.middleware import OTPMiddleware
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import ApiToken
from tests import factories
from tests.conftest import World, totp_code, totp_device, verified_login
from trial import permissions
from trial.models import AuditEvent
from trial.permissions import Perm

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password
SETUP = "/accounts/two-factor/set-up/"
VERIFY = "/accounts/two-factor/verify/"


@pytest.fixture(autouse=True)
def required(settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = True


def password_login(username: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_the_sensitive_capabilities_are_one_set() -> None:
    assert {
        Perm.DOWNLOAD_REPORT,
        Perm.MANAGE_CONSENT,  # signed consents carry a typed name
        Perm.UNBLIND_EMERGENCY,
        Perm.UNBLIND_ANALYSIS,
        Perm.VIEW_SEALED_LIST,
    } == set(permissions.TWO_FACTOR_PERMS)


def test_who_must_use_two_factor(world: World) -> None:
    must = {name for name, user in world.users.items() if permissions.requires_two_factor(user)}
    # Coordinators (the outsider is one in another trial) and statisticians download
    # reports; the unblinded statistician also sees sealed lists.
    assert must == {"coordinator", "outsider", "statistician", "unblinded"}
    staff = factories.make_user("admin", is_staff=True)
    assert permissions.requires_two_factor(staff)


def test_a_user_who_must_and_has_no_device_can_only_set_it_up(world: World) -> None:
    client = password_login("unblinded")
    for path in ("/", "/trials/ips/", "/trials/ips/reports/", "/trials/ips/randomisation/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(SETUP + "?next="), path
    api = client.get("/api/v1/trials/ips/reports/")
    assert api.status_code == 403
    assert "second factor" in api.json()["detail"]
    assert client.get(SETUP).status_code == 200
    # Signing out still works.
    assert client.post("/accounts/logout/").status_code == 302


def test_set_up_with_a_code_then_recovery_codes_are_shown_once(world: World) -> None:
    user = world.users["unblinded"]
    client = password_login("unblinded")
    page = client.get(SETUP + "?next=/trials/ips/reports/").content.decode()
    assert "<svg" in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert secret is not None and len(secret.group(1).replace(" ", "")) == 32
    # The same secret stays on a reload, so a scanned code keeps working.
    assert secret.group(1) in client.get(SETUP).content.decode()

    wrong = client.post(SETUP, {"code": "000000"})
    assert wrong.status_code == 200
    assert "The code is wrong or has expired." in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    device.throttle_reset()

    done = client.post(SETUP, {"code": totp_code(device.key)})
    assert done.status_code == 302 and done["Location"] == "/accounts/two-factor/recovery-codes/"
    device.refresh_from_db()
    assert device.confirmed
    shown = client.get(done["Location"]).content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", shown)
    assert len(codes) == 10
    assert sorted(codes) == sorted(
        StaticToken.objects.filter(device__user=user).values_list("token", flat=True)
    )
    assert client.get(done["Location"]).status_code == 302  # never shown again
    assert client.get("/trials/ips/reports/").status_code == 200  # the session is verified
    assert AuditEvent.objects.filter(action="account.two_factor_enabled", actor=user).exists()


def test_login_asks_for_the_code_and_a_recovery_code_works_once(world: World) -> None:
    user = world.users["coordinator"]
    device = totp_device(user)
    client = password_login("coordinator")
    response = client.get("/trials/ips/reports/")
    assert response["Location"] == VERIFY + "?next=%2Ftrials%2Fips%2Freports%2F"
    ok = client.post(VERIFY, {"code": totp_code(device.key), "next": "/trials/ips/reports/"})
    assert ok.status_code == 302 and ok["Location"] == "/trials/ips/reports/"
    assert client.get("/trials/ips/reports/").status_code == 200

    # The same code is not accepted twice (replay), even in a new session.
    again = password_login("coordinator")
    replay = again.post(VERIFY, {"code": totp_code(device.key)})
    assert "The code is wrong or has expired." in replay.content.decode()

    codes = services.new_recovery_codes(user, actor=user)
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    third = password_login("coordinator")
    assert third.post(VERIFY, {"code": codes[0].upper()}).status_code == 302
    assert third.get("/trials/ips/").status_code == 200
    fourth = password_login("coordinator")
    used = fourth.post(VERIFY, {"code": codes[0]})
    assert used.status_code == 200
    assert "The code is wrong or has expired." in used.content.decode()


def test_wrong_codes_lock_the_device_for_a_while(world: World, time_machine: Any) -> None:
    device = totp_device(world.users["coordinator"])
    client = password_login("coordinator")
    # The clock stands still: django-otp's first lock lasts one second, which a loaded machine
    # can spend between two requests.
    time_machine.move_to(timezone.now(), tick=False)
    first = client.post(VERIFY, {"code": "123456"})
    assert "The code is wrong or has expired." in first.content.decode()
    # The right code right after a wrong one must wait: django-otp's throttling.
    locked = client.post(VERIFY, {"code": totp_code(device.key)})
    assert locked.status_code == 200
    assert "Too many wrong codes" in locked.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert client.get("/trials/ips/").status_code == 302


def test_a_user_who_need_not_but_has_a_device_is_asked_for_the_code(world: World) -> None:
    assert password_login("caseworker").get("/trials/ips/").status_code == 200
    device = totp_device(world.users["caseworker"])
    client = password_login("caseworker")
    assert client.get("/trials/ips/")["Location"].startswith(VERIFY)
    client.post(VERIFY, {"code": totp_code(device.key)})
    assert client.get("/trials/ips/").status_code == 200
    # They may turn it off again; someone who must use it may not.
    assert client.post("/accounts/two-factor/turn-off/").status_code == 302
    assert not TOTPDevice.objects.filter(user=world.users["caseworker"]).exists()
    coordinator = verified_login(Client(), world.users["coordinator"])
    coordinator.post("/accounts/two-factor/turn-off/")
    assert TOTPDevice.objects.filter(user=world.users["coordinator"]).exists()


def test_the_permission_layer_refuses_sensitive_rights_to_an_unverified_session(
    world: World,
) -> None:
    def request_user(user: Any, device: TOTPDevice | None) -> Any:
        request = RequestFactory().get("/")
        request.session = {}  # type: ignore[assignment]  # a plain dict serves as the session
        if device is not None:
            request.session["otp_device_id"] = device.persistent_id
        request.user = user
        OTPMiddleware(lambda r: None)(request)
        return request.user

    user = world.users["unblinded"]
    unverified = request_user(user, None)
    assert not unverified.is_verified()
    assert permissions.has_perm(unverified, world.trial, Perm.VIEW_TRIAL)
    for perm in permissions.TWO_FACTOR_PERMS:
        if perm in permissions.perms_for(permissions.membership(user, world.trial)):
            assert not permissions.has_perm(unverified, world.trial, perm)
    verified = request_user(user, totp_device(user))
    assert verified.is_verified()
    assert permissions.has_perm(verified, world.trial, Perm.VIEW_SEALED_LIST)
    assert permissions.has_perm(verified, world.trial, Perm.DOWNLOAD_REPORT)
    # Commands and tasks pass users without a session: no second factor to ask for.
    plain = type(user).objects.get(pk=user.pk)
    assert permissions.has_perm(plain, world.trial, Perm.DOWNLOAD_REPORT)
    assert not permissions.requires_two_factor(AnonymousUser())


def test_sensitive_pages_refuse_an_unverified_session(world: World, settings: Any) -> None:
    participant = world.participants["OSLA"][0]
    client = Client()
    client.force_login(world.users["coordinator"])  # password only
    for path in (
        "/trials/ips/reports/1/download/zip/",
        f"/trials/ips/participants/{participant.study_id}/unblind/",
        "/trials/ips/randomisation/sealed-list/",
        "/trials/ips/randomisation/export/allocations.csv",
    ):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(SETUP), path


def test_with_the_requirement_off_a_password_is_enough(world: World, settings: Any) -> None:
    settings.TWO_FACTOR_REQUIRED = False
    client = password_login("unblinded")
    assert client.get("/trials/ips/reports/").status_code == 200
    assert client.get("/trials/ips/randomisation/sealed-list/").status_code != 302


def test_api_tokens_need_a_code_from_users_with_two_factor(world: World) -> None:
    url = "/api/v1/auth/token/"
    refused = Client().post(url, {"username": "coordinator", "password": PASSWORD})
    assert refused.status_code == 400
    assert "set up two-factor" in str(refused.json())
    device = totp_device(world.users["coordinator"])
    missing = Client().post(url, {"username": "coordinator", "password": PASSWORD})
    assert missing.status_code == 400 and "otp_token" in str(missing.json())
    wrong = Client().post(
        url, {"username": "coordinator", "password": PASSWORD, "otp_token": "000000"}
    )
    assert wrong.status_code == 400
    device.throttle_reset()
    issued = Client().post(
        url,
        {"username": "coordinator", "password": PASSWORD, "otp_token": totp_code(device.key)},
    )
    assert issued.status_code == 200
    token = issued.json()["token"]
    # The token stands for a completed two-factor sign-in: reports are listed with it.
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/trials/ips/reports/").status_code == 200
    # A caseworker needs no code.
    caseworker = Client().post(url, {"username": "caseworker", "password": PASSWORD})
    assert caseworker.status_code == 200
    assert ApiToken.objects.count() == 2
