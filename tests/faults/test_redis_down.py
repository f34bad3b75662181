"""Redis killed under a running application: pages and data entry keep working, ordering a
report says clearly that it was not started, and everything works again once Redis is back.

The application runs under gunicorn with its cache and its Celery broker on a Redis of the
test's own, which the test kills with SIGKILL and starts again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from config.cache import ResilientRedisCache
from fidelity.models import Contact
from randomisation.models import Allocation
from reports.models import ReportRequest
from tests.faults.conftest import Gunicorn, Ready, RedisServer, contact_body, session_cookie
from trial import jobs

CACHE_DB, BROKER_DB = 0, 1


@pytest.fixture
def app_on_private_redis(private_redis: RedisServer, require_postgres: None) -> Iterator[str]:
    server = Gunicorn(
        CACHE_URL=private_redis.url(CACHE_DB), CELERY_BROKER_URL=private_redis.url(BROKER_DB)
    )
    try:
        yield server.url
    finally:
        server.stop()


def browser(ready: Ready, persona: str) -> requests.Session:
    session = requests.Session()
    session.cookies.set("sessionid", session_cookie(ready.world.users[persona]))
    return session


def api(ready: Ready, persona: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {ready.tokens[persona]}"
    return session


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def order_in_browser(session: requests.Session, url: str) -> requests.Response:
    form = session.get(url)
    assert form.status_code == 200
    data = {
        "csrfmiddlewaretoken": csrf_token(form.text),
        "kind": "data",
        "cut_off": "2026-01-01",
    }
    return session.post(url, data=data)


def order_by_api(ready: Ready, url: str) -> requests.Response:
    return api(ready, "statistician").post(
        f"{url}/api/v1/trials/ips/reports/",
        json={"kind": "data", "cut_off": "2026-01-01"},
        timeout=60,
    )


def enter_data(ready: Ready, url: str, person_index: int) -> dict[str, Any]:
    """Log a contact and randomise a participant through the API; the answers."""
    contact = api(ready, "caseworker").post(
        f"{url}/api/v1/trials/ips/contacts/",
        json=contact_body(ready.randomised[person_index], str(uuid.uuid4())),
    )
    person = ready.waiting[person_index]
    randomised = api(ready, "coordinator").post(
        f"{url}/api/v1/trials/ips/participants/{person.study_id}/randomisation/",
        json={},
        headers={"Idempotency-Key": f"redis-{person.study_id}"},
    )
    return {"contact": contact, "randomised": randomised}


@pytest.mark.django_db(transaction=True)
def test_pages_and_data_entry_survive_redis_and_reports_say_they_were_not_started(
    ready: Ready, private_redis: RedisServer, app_on_private_redis: str
) -> None:
    url = app_on_private_redis
    coordinator = browser(ready, "coordinator")
    statistician = browser(ready, "statistician")
    reports_page = f"{url}/trials/ips/reports/"
    assert requests.get(f"{url}/health/", timeout=30).json()["broker"] == "ok"
    # An order queued before the crash: Redis (without persistence) will lose it.
    before = order_by_api(ready, url)
    assert before.status_code == 201 and before.json()["status"] == "queued"
    assert private_redis.client(BROKER_DB).llen("celery") == 1

    private_redis.kill()

    # Pages, including one that reads and writes the cache, still answer.
    for page in ("/trials/ips/", "/trials/ips/participants/", "/trials/ips/pathways/"):
        assert coordinator.get(url + page).status_code == 200, page
    health = requests.get(f"{url}/health/", timeout=30)
    assert health.status_code == 503 and health.json()["broker"].startswith("error")
    # Data entry: a contact and a randomisation are recorded.
    answers = enter_data(ready, url, 0)
    assert answers["contact"].status_code == 201, answers["contact"].text
    assert answers["randomised"].status_code == 201, answers["randomised"].text

    # A report ordered in the browser: the page says it was not started, and why.
    response = order_in_browser(statistician, reports_page)
    assert response.status_code == 200 and re.search(r"/trials/ips/reports/\d+/$", response.url)
    assert "The task queue could not be reached" in response.text
    failed = ReportRequest.objects.get(status="failed")
    assert failed.status == "failed" and failed.attempts == 0 and failed.never_queued
    # ... and through the API: 503 in the API's error shape, the order marked failed.
    ordered = order_by_api(ready, url)
    assert ordered.status_code == 503
    body = ordered.json()
    assert body["code"] == "service_unavailable"
    assert "task queue could not be reached" in body["detail"]
    assert ReportRequest.objects.filter(status="failed", attempts=0).count() == 2

    private_redis.start()  # empty: no persistence
    # The order queued before the crash is gone from the queue; the job sweep fails it once it
    # has waited JOB_QUEUED_HOURS (the sweep is told it is that much later).
    assert private_redis.client(BROKER_DB).llen("celery") == 0
    lost = ReportRequest.objects.get(pk=before.json()["id"])
    assert lost.status == "queued"
    later = timezone.now() + dt.timedelta(hours=settings.JOB_QUEUED_HOURS, seconds=1)
    assert jobs.sweep(later) == 1
    lost.refresh_from_db()
    assert lost.status == "failed" and "the task queue lost it" in lost.error

    assert requests.get(f"{url}/health/", timeout=30).json()["broker"] == "ok"
    assert coordinator.get(f"{url}/trials/ips/pathways/").status_code == 200
    assert private_redis.client(CACHE_DB).keys("*pathways:seq*"), "the cache is used again"
    answers = enter_data(ready, url, 1)
    assert answers["contact"].status_code == 201 and answers["randomised"].status_code == 201
    ordered = order_by_api(ready, url)
    assert ordered.status_code == 201 and ordered.json()["status"] == "queued"
    # The build is on the queue, waiting for a worker.
    assert private_redis.client(BROKER_DB).llen("celery") == 1
    assert ReportRequest.objects.get(pk=ordered.json()["id"]).status == "queued"
    # Everything entered while Redis was down is there, once.
    assert Contact.objects.filter(trial=ready.trial).count() == 2
    assert Allocation.objects.filter(trial=ready.trial).count() == len(ready.randomised) + 2


def test_the_cache_misses_and_skips_writes_while_redis_is_down(
    private_redis: RedisServer,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ResilientRedisCache, "_last_warning", 0.0)
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": private_redis.url(CACHE_DB),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    cache.set("answer", 42)
    assert cache.get("answer") == 42
    private_redis.kill()
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        assert cache.get("answer") is None
        assert cache.get("answer", "default") == "default"
        cache.set("answer", 43)  # skipped, no error
        assert cache.get_many(["answer"]) == {}
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert cache.add("new", 1) is False and cache.delete("answer") is False
    assert "cache unavailable" in caplog.text
    private_redis.start()
    cache.set("answer", 44)
    assert cache.get("answer") == 44
