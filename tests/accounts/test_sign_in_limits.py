"""Failed sign-ins behind a reverse proxy: the client's address comes from X-Forwarded-For
only through the trusted proxies, a lock-out holds for one user name *and* one address, and
the token endpoint answers a locked-out pair 429 with Retry-After."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from config.network import client_ip
from tests import factories

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password
PROXY = "10.0.0.2"
LOGIN = "/accounts/login/"
TOKEN_URL = "/api/v1/auth/token/"  # noqa: S105 - a path, not a secret


def through_proxy(client_address: str) -> Client:
    """A browser at ``client_address`` behind our proxy, which adds it to X-Forwarded-For."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address)


def fail_five_times(client: Client, url: str = LOGIN) -> list[int]:
    return [
        client.post(url, {"username": "kari", "password": "wrong"}).status_code for _ in range(5)
    ]


@pytest.fixture
def one_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.5", PROXY),  # no proxy trusted: the header is ignored
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "198.51.100.1, 203.0.113.5", "203.0.113.5"),  # the left entry is the client's own
        (2, "198.51.100.1, 203.0.113.5, 10.0.0.1", "203.0.113.5"),  # two proxies
        (2, "203.0.113.5", "203.0.113.5"),  # shorter than the chain: the leftmost
        (1, "", PROXY),
        (1, "not-an-address", PROXY),  # a made-up entry never becomes a key
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address_through_trusted_proxies(
    settings: Any, proxies: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@pytest.mark.django_db
def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(one_proxy: None) -> None:
    factories.make_user("kari")
    attacker = through_proxy("203.0.113.66")
    assert fail_five_times(attacker)[-1] == 429
    assert attacker.post(LOGIN, {"username": "kari", "password": PASSWORD}).status_code == 429
    # The real user, behind the same proxy at another address, signs in.
    real = through_proxy("198.51.100.7")
    assert real.post(LOGIN, {"username": "kari", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_without_a_trusted_proxy_a_forged_header_does_not_escape_the_lock_out() -> None:
    factories.make_user("kari")
    for n in range(5):
        Client(REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").post(
            LOGIN, {"username": "kari", "password": "wrong"}
        )
    forged = Client(REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert forged.post(LOGIN, {"username": "kari", "password": PASSWORD}).status_code == 429


@pytest.mark.django_db
def test_a_malformed_forwarded_header_is_not_a_server_error(one_proxy: None) -> None:
    factories.make_user("kari")
    client = through_proxy("999.1.1.1, <script>")
    assert client.post(LOGIN, {"username": "kari", "password": "wrong"}).status_code == 200


@pytest.mark.django_db
def test_the_token_endpoint_answers_a_locked_out_pair_429_with_retry_after(
    one_proxy: None, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = False
    factories.make_user("kari")
    attacker = through_proxy("203.0.113.66")
    statuses = fail_five_times(attacker, TOKEN_URL)
    assert statuses[:4] == [400] * 4
    assert statuses[4] == 429  # the fifth failure locks the pair, as on the sign-in page
    locked = attacker.post(TOKEN_URL, {"username": "kari", "password": PASSWORD})
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    body = locked.json()
    assert body["code"] == "throttled"
    assert "Too many failed sign-ins" in body["detail"]
    # The sign-in page counts the same failures.
    assert attacker.post(LOGIN, {"username": "kari", "password": PASSWORD}).status_code == 429
    # From another address the user gets a token.
    real = through_proxy("198.51.100.7").post(TOKEN_URL, {"username": "kari", "password": PASSWORD})
    assert real.status_code == 200 and real.json()["token"]
