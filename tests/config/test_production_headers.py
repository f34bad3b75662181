"""Production settings in force: HSTS, secure cookies, framing and sniffing headers, the
two-factor requirement; session expiry, the password policy, and report files reachable only
through the authorised download view."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from reports.models import ReportRequest
from tests import factories
from tests.config.production import PRODUCTION, ROOT
from tests.conftest import World, verified_login

# Run under the production settings. Only the static files storage is swapped, because its
# manifest exists only after collectstatic (as in tests/conftest.py).
PROBE = """
import json
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
client = Client()
page = client.get("/accounts/login/", secure=True)
login = client.post(
    "/accounts/login/", {"username": "prodcheck", "password": "correct horse battery"},
    secure=True,
)
def cookie(morsel):
    return {"secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"]),
            "samesite": morsel["samesite"], "max_age": morsel["max-age"],
            "expires": morsel["expires"]}
print(json.dumps({
    "headers": dict(page.headers),
    "login_status": login.status_code,
    "cookies": {name: cookie(m) for name, m in client.cookies.items()},
    "two_factor_required": settings.TWO_FACTOR_REQUIRED,
}))
"""


def run_probe(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DEBUG"}
    clean.update(env)
    clean["VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_production_settings_send_the_security_headers_and_secure_cookies(
    require_postgres: None, tmp_path: Path, settings: Any
) -> None:
    # The production process knows only the real password hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    factories.make_user("prodcheck")
    db = connection.settings_dict
    env = {
        **PRODUCTION,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "ALLOWED_HOSTS": "testserver",
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
    }
    probe = run_probe(env, tmp_path)
    headers = probe["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert probe["login_status"] == 302
    session = probe["cookies"]["sessionid"]
    # Expires when the browser closes: no max-age or expiry date on the cookie.
    assert session == {
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
        "max_age": "",
        "expires": "",
    }
    csrf = probe["cookies"]["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    assert probe["two_factor_required"] is True


def test_the_embedded_default_needs_no_second_factor(tmp_path: Path) -> None:
    probe = run_probe({"DEBUG": "1"}, tmp_path)
    assert probe["two_factor_required"] is False
    assert "Strict-Transport-Security" not in probe["headers"]
    # The override: a demo can require it too.
    forced = run_probe({"DEBUG": "1", "TWO_FACTOR_REQUIRED": "1"}, tmp_path)
    assert forced["two_factor_required"] is True


def test_a_session_expires_after_eight_hours(world: World) -> None:
    assert django_settings.SESSION_COOKIE_AGE == 8 * 60 * 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client = verified_login(Client(), world.users["caseworker"])
        assert client.get("/trials/ips/").status_code == 200
    with time_machine.travel(start + dt.timedelta(hours=7, minutes=59), tick=False):
        assert client.get("/trials/ips/").status_code == 200
    with time_machine.travel(start + dt.timedelta(hours=8, minutes=1), tick=False):
        response = client.get("/trials/ips/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_a_weak_password_is_refused_on_the_password_change_page(world: World) -> None:
    client = verified_login(Client(), world.users["caseworker"])
    assert client.get("/accounts/password/").status_code == 200
    for weak, message in (
        ("short1", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "This password is too common."),
        ("482915736015", "This password is entirely numeric."),
    ):
        response = client.post(
            "/accounts/password/",
            {
                "old_password": "correct horse battery",
                "new_password1": weak,
                "new_password2": weak,
            },
        )
        assert response.status_code == 200
        page = response.content.decode()
        assert 'id="id_new_password2_error"' in page
        assert message in page
    strong = "plum kettle orbit 2031"
    done = client.post(
        "/accounts/password/",
        {"old_password": "correct horse battery", "new_password1": strong, "new_password2": strong},
    )
    assert done.status_code == 302
    world.users["caseworker"].refresh_from_db()
    assert world.users["caseworker"].check_password(strong)


def test_report_files_are_not_served_from_any_public_url(
    world: World, settings: Any, tmp_path: Path
) -> None:
    settings.FILES_ROOT = tmp_path / "files"
    folder = settings.FILES_ROOT / "reports" / "ips"
    folder.mkdir(parents=True)
    (folder / "ips-data-1.zip").write_bytes(b"PK secret")
    report = ReportRequest.objects.create(
        trial=world.trial,
        kind="data",
        cut_off=dt.date(2025, 1, 1),
        seed=1,
        blinded=False,
        status=ReportRequest.Status.DONE,
        zip_file="ips-data-1.zip",
        requested_by_name="statistician",
    )
    # The files live outside the static root and no URL maps onto them.
    assert not str(settings.FILES_ROOT).startswith(str(django_settings.STATIC_ROOT))
    assert django_settings.MEDIA_ROOT == ""
    guesses = [
        "/files/reports/ips/ips-data-1.zip",
        "/media/reports/ips/ips-data-1.zip",
        "/reports/ips/ips-data-1.zip",
        "/var/files/reports/ips/ips-data-1.zip",
        "/static/reports/ips/ips-data-1.zip",
        "/static/../files/reports/ips/ips-data-1.zip",
        "/static/%2e%2e/files/reports/ips/ips-data-1.zip",
        "/trials/ips/reports/ips-data-1.zip",
        "/trials/ips/reports/files/ips-data-1.zip",
    ]
    coordinator = world.client("coordinator")
    for client in (Client(), coordinator):
        for path in guesses:
            response = client.get(path)
            # The test client's response type omits a streaming response's attributes.
            body = (
                b"".join(response.streaming_content)  # type: ignore[attr-defined]
                if response.streaming
                else response.content
            )
            assert b"PK secret" not in body, path
            assert response.status_code in (302, 404), path
    # Only the authorised view sends it, and records who did.
    download = coordinator.get(f"/trials/ips/reports/{report.pk}/download/zip/")
    assert download.status_code == 200
    streamed = download.streaming_content  # type: ignore[attr-defined]  # as above
    assert b"".join(streamed) == b"PK secret"
    assert world.client("caseworker").get(
        f"/trials/ips/reports/{report.pk}/download/zip/"
    ).status_code in (403, 404)
