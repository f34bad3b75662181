"""Health check, security headers, login throttling and the language switch."""

from __future__ import annotations

import pytest
from django.test import Client

from config.celery import app as celery_app
from tests import factories
from tests.conftest import World, totp_code, totp_device


@pytest.mark.django_db
def test_health_reports_database_and_broker() -> None:
    response = Client().get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_health_reports_redis_broker(require_redis: str) -> None:
    assert celery_app.conf.broker_url.startswith("redis://")
    assert Client().get("/health/").json()["broker"] == "ok"


@pytest.mark.django_db
def test_health_fails_when_broker_is_unreachable(settings: object) -> None:
    # Nothing listens on port 1: a real refused connection, not a mock.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    response = Client().get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error")


@pytest.mark.django_db
def test_security_headers_on_pages() -> None:
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_login_is_throttled_after_repeated_failures(settings: object) -> None:
    user = factories.make_user("kari")
    client = Client()
    for _ in range(4):
        response = client.post("/accounts/login/", {"username": "kari", "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    fifth = client.post("/accounts/login/", {"username": "kari", "password": "wrong"})
    assert fifth.status_code == 429
    locked = client.post(
        "/accounts/login/", {"username": "kari", "password": "correct horse battery"}
    )
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert not locked.wsgi_request.user.is_authenticated
    other = Client().post(
        "/accounts/login/",
        {"username": user.username, "password": "correct horse battery"},
        REMOTE_ADDR="10.0.0.9",
    )
    assert other.status_code == 302  # another address is not locked out


@pytest.mark.django_db
def test_login_and_logout(world: World) -> None:
    device = totp_device(world.users["coordinator"])
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "coordinator", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    # The coordinator has an authenticator: the code comes next, then the trial.
    assert client.get("/")["Location"] == "/accounts/two-factor/verify/?next=%2F"
    verified = client.post("/accounts/two-factor/verify/", {"code": totp_code(device.key)})
    assert verified.status_code == 302
    assert client.get("/").status_code == 302  # one trial: straight to its dashboard
    assert client.get("/trials/ips/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/trials/ips/").status_code == 302


@pytest.mark.django_db
def test_language_switch_to_norwegian(world: World) -> None:
    client = world.client("coordinator")
    response = client.post("/i18n/setlang/", {"language": "nb", "next": "/trials/ips/"})
    assert response.status_code == 302
    page = client.get("/trials/ips/").content.decode()
    assert '<html lang="nb">' in page
    assert "Logg ut" in page


def test_openapi_schema_and_docs(world: World) -> None:
    client = world.client("coordinator")
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/trials/{code}/participants/" in paths
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
