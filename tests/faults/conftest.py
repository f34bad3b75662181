"""Real processes to break: a private Redis, gunicorn, Celery workers, all on the test database.

Each helper starts a real server or worker as a subprocess, on a port the kernel hands out (so
parallel test processes never collide), and the fixtures kill whatever is left at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from fidelity.models import Component
from randomisation.allocation import services as allocation_services
from randomisation.models import Scheme
from randomisation.schemes import services as scheme_services
from tests import factories
from tests.conftest import World, api_token
from trial.models import Participant, Trial

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def app_environment(**extra: str) -> dict[str, str]:
    """The environment of a server or worker on the test database. Two-factor sign-in and
    secure cookies are off: these tests break services, and sign in with a session cookie
    made by the test over plain http."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CONN_MAX_AGE": "0",
        "TWO_FACTOR_REQUIRED": "false",
        "SECURE_COOKIES": "false",
        "FILES_ROOT": str(settings.FILES_ROOT),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "tests.faults.server_settings",
        **extra,
    }


def stop(process: subprocess.Popen[Any], sig: int = signal.SIGINT) -> None:
    """Stop a process we started (its whole session), waiting for it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class RedisServer:
    """A Redis of the test's own, without persistence, that the test may kill and restart."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; connections drop."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, socket_connect_timeout=1)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            stop(server.process, signal.SIGKILL)


class Gunicorn:
    """The application under gunicorn (2 workers x 8 threads) on the test database."""

    def __init__(self, **env: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "2", "--threads", "8", "--log-level", "warning"]
        self.process = subprocess.Popen(
            command, env=app_environment(**env), cwd=settings.BASE_DIR, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    stop(self.process, signal.SIGKILL)
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        stop(self.process)  # SIGINT: quick shutdown


class DatabaseProxy:
    """A TCP relay in front of PostgreSQL that the test can cut, as a database server that
    goes down: while cut, its port refuses connections and every relayed connection is
    dropped. ``restore`` opens the same port again."""

    def __init__(self) -> None:
        db = connection.settings_dict
        self.target = (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
        self.port = free_port()
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.listening = threading.Event()
        self.restore()

    @property
    def database_url(self) -> str:
        db = connection.settings_dict
        return f"postgres://{db['USER']}@127.0.0.1:{self.port}/{db['NAME']}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self.listening.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        self.listening.clear()
        time.sleep(0.3)  # the accept loop closes the listener within its 0.1 s timeout
        with self.lock:
            for sock in self.open:
                self._close(sock)
            self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self.listening.is_set():
                try:
                    client, _address = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                try:
                    server = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                with self.lock:
                    self.open |= {client, server}
                for source, sink in ((client, server), (server, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source)
            self._close(sink)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class Worker:
    """``celery -A <app> worker`` on a queue of the test's own, in its own session."""

    def __init__(self, queue: str, log: Path, app: str = "config", **env: str) -> None:
        command = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue]
        command += ["--concurrency", "1", "--loglevel", "INFO", "--without-gossip"]
        command += ["--without-mingle", "--without-heartbeat", "-n", f"{uuid.uuid4().hex}@%h"]
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                env=app_environment(**env),
                cwd=settings.BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as the OOM killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        stop(self.process, signal.SIGTERM)


def session_cookie(user: Any) -> str:
    """A signed-in session of ``user`` in the database, as a cookie value."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def wait_for(condition: Any, seconds: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


# --- a recruiting trial ready for contacts, randomisations and reports ---------------------


@dataclass
class Ready:
    world: World
    waiting: list[Participant]  # consented at OSLA (the caseworker's site), not randomised
    randomised: list[Participant]  # randomised at OSLA
    tokens: dict[str, str]

    @property
    def trial(self) -> Trial:
        return self.world.trial


@pytest.fixture
def ready(world: World) -> Ready:
    trial = world.trial
    Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.RECRUITING, target_size=200)
    trial.refresh_from_db()
    for order, (code, name, specific) in enumerate(COMPONENTS):
        Component.objects.create(
            trial=trial, code=code, name=name, intervention_specific=specific, order=order
        )
    coordinator = world.users["coordinator"]
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[4, 6], stratify_by_site=True
    )
    scheme_services.lock_scheme(scheme, actor=coordinator)
    site = world.sites[0]
    people = [
        factories.make_participant(
            trial, site, consent_version="v1", consent_date=dt.date(2025, 3, 1)
        )
        for _ in range(10)
    ]
    for person in people[:4]:
        allocation_services.randomise(person, actor=coordinator)
    tokens = {
        persona: api_token(world.users[persona])
        for persona in ("coordinator", "caseworker", "statistician")
    }
    return Ready(world=world, waiting=people[4:], randomised=people[:4], tokens=tokens)


COMPONENTS = [
    ("rapid", "Rapid job search", True),
    ("benefits", "Benefits counselling", False),
]


def contact_body(participant: Participant, client_id: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "study_id": participant.study_id,
        "contact_on": timezone.localdate().isoformat(),
        "mode": "in_person",
        "minutes": 30,
        "partners": ["participant"],
        "components": ["rapid"],
        "note": "",
    }
