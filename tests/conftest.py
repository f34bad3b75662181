"""Shared fixtures: one persona per role in a small trial, plus an outsider.

Under CI=true the suite must run on PostgreSQL and Redis: tests that need them fail, never skip,
when they are missing (see ``require_postgres`` and ``require_redis``), except in the CI pass on
the embedded default (CI_EMBEDDED=true), where only those two skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dj_database_url
import hypothesis
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.test import Client, TransactionTestCase, override_settings
from django.utils import translation

from tests import factories
from trial import dbroles
from trial.models import Membership, Participant, Site, Trial

IN_CI = os.environ.get("CI", "").lower() == "true"
# .ci/run's first pass runs the suite on the embedded default on purpose, as a newcomer does:
# there PostgreSQL and Redis are absent by design and the tests that need them skip. Any other
# missing tool (Chromium, poppler, make) still fails.
CI_EMBEDDED = IN_CI and os.environ.get("CI_EMBEDDED", "").lower() == "true"

# Hypothesis (under schemathesis) keeps its caches under var/ like everything else the suite
# writes, not in a .hypothesis folder in the checkout.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(settings.VAR_DIR / "hypothesis"))

# No time limit per example: on a shared, loaded machine Hypothesis' default 200 ms deadline
# fails correct code (speed is measured in bench/, never asserted in tests).
hypothesis.settings.register_profile("worktrials", deadline=None)
hypothesis.settings.load_profile("worktrials")

# The tables' owner, when the tests run as the application's restricted role (``.ci/run``):
# the test databases are created, migrated and flushed as the owner, and the tests (and every
# server and worker they start) connect as the role in DATABASE_URL. See trial/dbroles.py.
OWNER_URL = os.environ.get("DATABASE_OWNER_URL", "")


def _credentials(url: str) -> dict[str, Any]:
    parsed = dj_database_url.parse(url)
    return {"USER": parsed["USER"], "PASSWORD": parsed["PASSWORD"]}


def _connect_as(credentials: dict[str, Any]) -> None:
    connection.close()
    connection.settings_dict.update(credentials)


@contextmanager
def as_owner() -> Iterator[None]:
    """Run the block connected as the tables' owner (a DBA), outside any test transaction:
    what the owner commits, the test sees, and the reverse. Without DATABASE_OWNER_URL the
    tests connect as the owner anyway, and this changes nothing."""
    if not OWNER_URL:
        yield
        return
    app = {key: connection.settings_dict[key] for key in ("USER", "PASSWORD")}
    _connect_as(_credentials(OWNER_URL))
    try:
        yield
    finally:
        _connect_as(app)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> None:
    """With an owner URL, the test database is created and migrated by the owner."""
    if OWNER_URL:
        connection.settings_dict["APP_CREDENTIALS"] = {
            key: connection.settings_dict[key] for key in ("USER", "PASSWORD")
        }
        connection.settings_dict.update(_credentials(OWNER_URL))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Then the application's role gets its privileges and the tests connect as it; at the
    end the owner drops the database."""
    app = connection.settings_dict.get("APP_CREDENTIALS")
    if not app:
        yield
        return
    with django_db_blocker.unblock():
        dbroles.grant_app_role(app["USER"])
        _connect_as(app)
    yield
    with django_db_blocker.unblock():
        _connect_as(_credentials(OWNER_URL))


if OWNER_URL:
    # Transactional tests empty every table afterwards with TRUNCATE, which the application's
    # role may not do (append-only tables): the owner does it.
    # A private method of Django's, which django-stubs does not declare.
    _flush = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]

    def _fixture_teardown_as_owner(self: TransactionTestCase) -> None:
        with as_owner():
            _flush(self)

    TransactionTestCase._fixture_teardown = _fixture_teardown_as_owner  # type: ignore[attr-defined]


def _missing(service: str, *, embedded_lacks: bool = False) -> None:
    """Skip the test, or fail it under CI=true; ``embedded_lacks`` marks a service the embedded
    default replaces (PostgreSQL, Redis), which a CI_EMBEDDED run skips as well."""
    message = f"{service} is not available"
    if IN_CI and not (embedded_lacks and CI_EMBEDDED):
        pytest.fail(f"{message}, and CI=true requires it", pytrace=False)
    pytest.skip(f"{message} (runs in CI)")


@pytest.fixture(scope="session", autouse=True)
def cache_of_the_processs_own() -> Iterator[None]:
    """xdist's test processes share one Redis: each keeps its cache keys under a prefix of its
    own (servers and workers it starts get it through the environment), so an id that both
    processes' databases hold (a progress key, a throttle's count) is not shared."""
    prefix = f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    os.environ["CACHE_KEY_PREFIX"] = prefix
    with override_settings(
        CACHES={"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    ):
        yield


def clear_cache() -> None:
    """Empty this test process's cache. ``cache.clear()`` would empty the whole Redis
    database, under the feet of the other test processes."""
    if not isinstance(cache, RedisCache):
        cache.clear()
        return
    client = cache._cache.get_client(write=True)  # Django's RedisCache keeps its client there
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def language_of_the_tests_own() -> Iterator[None]:
    """A page asked for in Norwegian leaves Norwegian active in the test's thread (Django's
    LocaleMiddleware activates a language and nothing deactivates it): the next test starts
    from the default again, whichever test ran before it in the process."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: object) -> None:
    """Real hashing costs ~0.3 s per user; tests do not measure password strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def files_of_the_tests_own(settings: object, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Kept files (imports waiting, reports) go to a folder of the test's own: their names
    carry only the row's id, which test processes with databases of their own share."""
    settings.FILES_ROOT = tmp_path_factory.mktemp("files")  # type: ignore[attr-defined]


TEST_CHAIN_KEY = "test-allocation-chain-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def allocation_chain_key(settings: object, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test signs allocations with one chain key; servers and commands the test starts
    get it through the environment (it is never stored in the database)."""
    settings.ALLOCATION_CHAIN_KEYS = [TEST_CHAIN_KEY]  # type: ignore[attr-defined]
    settings.ALLOCATION_WITNESS_DIR = ""  # type: ignore[attr-defined]
    monkeypatch.setenv("ALLOCATION_CHAIN_KEYS", TEST_CHAIN_KEY)
    monkeypatch.delenv("ALLOCATION_WITNESS_DIR", raising=False)
    return TEST_CHAIN_KEY


@pytest.fixture(autouse=True)
def static_files_without_collectstatic(settings: object) -> None:
    """Production settings use a manifest written by collectstatic; tests use the finders."""
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def require_postgres(db: None) -> None:
    if connection.vendor != "postgresql":
        _missing("PostgreSQL (DATABASE_URL)", embedded_lacks=True)


@pytest.fixture
def require_redis() -> str:
    url: str = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        _missing("Redis (CELERY_BROKER_URL)", embedded_lacks=True)
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        _missing(f"Redis at {url}")
    return url


def poppler(tool: str) -> str:
    """The path of one of poppler's command-line tools (``pdftotext``, ``pdfinfo``), which the
    tests that read a PDF's text use; without it such a test skips (fails under CI=true)."""
    path = shutil.which(tool)
    if path is None:
        _missing(f"poppler's {tool} (Debian package poppler-utils)")
    return str(path)


@pytest.fixture
def gunicorn_server(transactional_db: None, require_postgres: None) -> Iterator[str]:
    """The application under gunicorn (several processes and threads) on the test database.

    Data the test commits is what the server sees. Yields the base URL.
    """
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
        "CONN_MAX_AGE": "0",
        "FILES_ROOT": str(settings.FILES_ROOT),
    }
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "2", "--threads", "16", "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR)
    url = f"http://127.0.0.1:{port}"
    try:
        # Starting two workers takes seconds; far longer on a busy two-core machine (at load 16
        # 30 s were not enough).
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # quick shutdown; SIGTERM waits for idle threads
        server.wait(timeout=30)


def totp_device(user: User) -> Any:
    """A confirmed authenticator (django-otp TOTPDevice) for the user."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def totp_code(key_hex: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for the device with this hex key, now or a number
    of 30-second steps ahead (a code is accepted once; the next login needs the next step)."""
    from binascii import unhexlify

    from django_otp.oath import TOTP

    totp = TOTP(unhexlify(key_hex))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def verified_login(client: Client, user: User) -> Client:
    """Log the client in as after password and second factor: the user gets a confirmed TOTP
    device (once) and the session is marked verified by it, as ``django_otp.login`` does.
    Users who must use two-factor sign-in (roles that can unblind or download) need this."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    device, _created = TOTPDevice.objects.get_or_create(
        user=user, name="test", defaults={"confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def api_token(user: User, *, two_factor: bool = True) -> str:
    """The key of a new API token for the user, as the token endpoint issues it; by default as
    after a code from a second factor, which roles that download or unblind need."""
    from accounts.services import issue_token

    _token, key = issue_token(user, two_factor=two_factor, actor=user)
    return key


@dataclass
class World:
    """A trial with three sites, one persona per role, and participants at every site."""

    trial: Trial
    other_trial: Trial
    sites: list[Site]
    users: dict[str, User] = field(default_factory=dict)
    participants: dict[str, list[Participant]] = field(default_factory=dict)

    def client(self, persona: str) -> Client:
        return verified_login(Client(), self.users[persona])


PERSONAS = {
    # persona: (role, index of sites for caseworkers, unblinded)
    "coordinator": (Membership.Role.COORDINATOR, None, False),
    "caseworker": (Membership.Role.CASEWORKER, [0], False),
    "reviewer": (Membership.Role.FIDELITY_REVIEWER, None, False),
    "statistician": (Membership.Role.STATISTICIAN, None, False),
    "unblinded": (Membership.Role.STATISTICIAN, None, True),
    "datamanager": (Membership.Role.DATA_MANAGER, None, False),
    "monitor": (Membership.Role.MONITOR, None, False),
}


@pytest.fixture
def world(db: None) -> World:
    trial = factories.make_trial(code="ips", title="IPS trial")
    other = factories.make_trial(code="other", title="Another trial")
    sites = [factories.make_site(trial, code) for code in ("OSLA", "OSLB", "BGO")]
    other_site = factories.make_site(other, "TRD")
    w = World(trial=trial, other_trial=other, sites=sites)
    for persona, (role, site_idx, unblinded) in PERSONAS.items():
        user = factories.make_user(persona)
        site_list = [sites[i] for i in site_idx] if site_idx is not None else []
        factories.make_membership(user, trial, role, site_list, unblinded=unblinded)
        w.users[persona] = user
    outsider = factories.make_user("outsider")
    factories.make_membership(outsider, other, Membership.Role.COORDINATOR)
    w.users["outsider"] = outsider
    for site in sites:
        w.participants[site.code] = [factories.make_participant(trial, site) for _ in range(2)]
    w.participants["TRD"] = [factories.make_participant(other, other_site)]
    return w
