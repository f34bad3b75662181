"""The API's throttles: per client address without a user, per user with one; rates from
settings; a throttled request gets 429 with Retry-After and the error body."""

from __future__ import annotations

from typing import Any, cast

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import World, api_token

PASSWORD = "correct horse battery"  # noqa: S105 - the factories' test password


@pytest.fixture
def low_rates(settings: Any) -> None:
    settings.API_THROTTLE_RATES = {"anon": "2/minute", "user": "3/minute"}


def test_a_user_over_the_rate_gets_429_with_retry_after(world: World, low_rates: None) -> None:
    caseworker = world.users["caseworker"]
    cache.delete(f"throttle_user_{caseworker.pk}")
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token(caseworker)}")
    assert [client.get("/api/v1/trials/").status_code for _ in range(3)] == [200] * 3
    refused = client.get("/api/v1/trials/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "throttled"
    # Counted per user: another user, from the same address, is not held up.
    monitor = world.users["monitor"]
    cache.delete(f"throttle_user_{monitor.pk}")
    other = Client(HTTP_AUTHORIZATION=f"Token {api_token(monitor)}")
    assert other.get("/api/v1/trials/").status_code == 200


def test_requests_without_a_user_are_counted_per_client_address(
    world: World, low_rates: None, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for address in ("203.0.113.40", "203.0.113.41"):
        cache.delete_many([f"throttle_anon_{address}", f"throttle_user_{address}"])
    url = "/api/v1/auth/token/"
    body = {"username": "nobody", "password": PASSWORD}
    first = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.40")
    assert [first.post(url, body).status_code for _ in range(2)] == [400, 400]
    refused = first.post(url, body)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    # Another client behind the same proxy has its own count.
    second = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.41")
    assert second.post(url, body).status_code == 400


def test_the_default_rates_come_from_settings(settings: Any) -> None:
    from rest_framework.settings import api_settings

    from config.throttles import AnonThrottle, UserThrottle

    # DRF's stubs type the setting as import strings; api_settings has imported the classes.
    assert [AnonThrottle, UserThrottle] == list[object](api_settings.DEFAULT_THROTTLE_CLASSES)
    assert settings.API_THROTTLE_RATES == {
        "anon": "30/minute",
        "user": "3000/minute",
        "surveys_provider": "120/minute",  # the mail or SMS provider's reports, per address
    }
    settings.API_THROTTLE_RATES = {"anon": "7/hour", "user": "9/second"}
    # num_requests and duration are set by SimpleRateThrottle.__init__; DRF's stubs omit them.
    anon, user = cast(Any, AnonThrottle()), cast(Any, UserThrottle())
    assert anon.num_requests == 7 and anon.duration == 3600
    assert user.num_requests == 9 and user.duration == 1
