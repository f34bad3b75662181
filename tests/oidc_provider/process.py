"""Start the test OpenID Connect provider in its own process, and point the app at it."""

from __future__ import annotations

import os
import secrets
import selectors
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

NAME = "Test IdP"


@dataclass(frozen=True)
class Provider:
    url: str
    client_id: str
    client_secret: str

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"


def _start(command: list[str], folder: Path) -> tuple[subprocess.Popen[str], int | str]:
    """Start the provider; returns the process and the port it listens on, or what went wrong
    (the process has then ended)."""
    # Its own settings, whatever the app's environment says.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SETTINGS")}
    errors = folder / "provider.stderr"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        # Migrating its database takes seconds; far longer on a busy two-core machine.
        deadline = time.monotonic() + 120
        ready = False
        while not ready and process.poll() is None and time.monotonic() < deadline:
            ready = bool(selector.select(timeout=0.5))
    line = process.stdout.readline().strip() if ready or process.poll() is not None else ""
    if line.isdigit():
        return process, int(line)
    process.kill()
    process.wait(timeout=30)
    process.stdout.close()
    return process, (
        f"the test OpenID Connect provider did not start (exit code {process.returncode}); "
        f"it printed {line!r} and its errors end with:\n{errors.read_text()[-3000:]}"
    )


@contextmanager
def running(
    redirect_uris: list[str], folder: Path, post_logout_redirect_uris: list[str] | None = None
) -> Iterator[Provider]:
    """The provider, listening until the block ends, with one client whose redirect URIs are
    ``redirect_uris`` (and, after signing out there, ``post_logout_redirect_uris``); its
    database lives in ``folder``.

    A provider that dies before it listens is started once more, with a warning that carries
    its errors (a test service that fails to start is not a failure of the app under test)."""
    client_id, client_secret = "worktrials", secrets.token_urlsafe(32)
    # Each value joined to its option by "=": a secret may start with "-", which argparse
    # would otherwise read as the next option (it did, once in 64 runs, on CI).
    command = [sys.executable, "-m", "tests.oidc_provider.serve"]
    command += [f"--db={folder / 'provider.sqlite3'}", f"--client-id={client_id}"]
    command += [f"--client-secret={client_secret}"]
    command += [f"--redirect-uri={uri}" for uri in redirect_uris]
    command += [f"--post-logout-redirect-uri={uri}" for uri in post_logout_redirect_uris or []]
    process, port = _start(command, folder)
    if isinstance(port, str):
        warnings.warn(port, stacklevel=1)
        (folder / "provider.sqlite3").unlink(missing_ok=True)
        process, port = _start(command, folder)
        if isinstance(port, str):
            raise RuntimeError(port)
    try:
        yield Provider(f"http://127.0.0.1:{port}", client_id, client_secret)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def configure(settings: Any, provider: Provider, **overrides: Any) -> None:
    """Turn single sign-on on in the app's settings (pytest-django's ``settings`` fixture),
    with ``provider`` as the identity provider."""
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_DISCOVERY_URL = f"{provider.issuer}/.well-known/openid-configuration"
    settings.OIDC_PROVIDER_NAME = NAME
    settings.OIDC_CLIENT_ID = provider.client_id
    settings.OIDC_CLIENT_SECRET = provider.client_secret
    settings.OIDC_SCOPES = "openid profile email"
    settings.OIDC_TOKEN_AUTH_METHOD = "client_secret_post"  # noqa: S105 - a method
    settings.OIDC_SIGN_ALGORITHM = "RS256"
    settings.OIDC_ACR_VALUES = ""
    settings.OIDC_SECOND_FACTOR_AMR = ["mfa", "otp", "hwk", "sc"]
    settings.OIDC_SECOND_FACTOR_ACR = []
    settings.OIDC_USERINFO = True
    settings.OIDC_CREATE_USERS = True
    settings.OIDC_LINK_BY_EMAIL = False
    settings.OIDC_PROVIDER_LOGOUT = True
    settings.PASSWORD_SIGN_IN = True
    for name, value in overrides.items():
        setattr(settings, name, value)
