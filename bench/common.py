"""Helpers shared by the benchmark scripts in bench/ (see bench/README.md).

Each bench_*.py is a standalone script that ``bench/run.py`` starts in its own process with the
benchmark environment (PostgreSQL, Redis, throw-away secrets). A script calls ``setup_django()``,
prepares its data with ``reset_demo()``, measures, and reports every figure with ``emit()`` as
one JSON line on stdout. Benchmarks measure; they never assert timing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trial.demo import DemoResult

REPO_ROOT = Path(__file__).resolve().parent.parent

# The apps whose tables a reset empties completely; plus the user tables below.
PROJECT_APPS = (
    "trial",
    "instruments",
    "randomisation",
    "fidelity",
    "pathways",
    "reports",
    "trialimport",
    "accounts",
    "axes",
)


def setup_django() -> None:
    """Make the project importable and set Django up with config.settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Benchmarks time pages, not sign-in: personas sign in with a password alone.
    os.environ.setdefault("TWO_FACTOR_REQUIRED", "false")
    # Benchmarks drive the server to its capacity with one user's token; throttling them would
    # measure the throttle. A one-second window keeps DRF's request history short.
    os.environ.setdefault("API_THROTTLE_USER", "1000000/second")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()


def _project_tables() -> list[str]:
    from django.apps import apps
    from django.contrib.auth import get_user_model

    models: list[Any] = []
    for label in PROJECT_APPS:
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        models.extend(config.get_models(include_auto_created=True))
    User = get_user_model()
    models.append(User)
    # The user's many-to-many tables (groups, user_permissions).
    models.extend(field.remote_field.through for field in User._meta.local_many_to_many)
    tables = {model._meta.db_table for model in models if model._meta.managed}
    tables.add("django_session")
    return sorted(tables)


def _check_bench_database() -> None:
    from django.db import connection

    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor != "postgresql":
        raise SystemExit(
            f"benchmarks run on PostgreSQL, not {connection.vendor} (use bench/run.py)"
        )
    if "bench" not in name and os.environ.get("BENCH_ALLOW_RESET") != "1":
        raise SystemExit(
            f"refusing to empty database {name!r}: its name does not contain 'bench' "
            "(set BENCH_ALLOW_RESET=1 to allow it)"
        )


def reset_database() -> None:
    """Empty every project table (and users, tokens, lockouts, sessions) and the cache.

    Uses ``TRUNCATE ... RESTART IDENTITY CASCADE``: the audit table's append-only trigger is a
    row trigger on UPDATE/DELETE, which TRUNCATE does not fire. Content types and permissions
    are kept (they come from migrations). The allocation witness files go too.
    """
    from django.core.cache import cache
    from django.db import connection

    _check_bench_database()
    tables = _project_tables()
    quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    cache.clear()
    # The allocation logs' witness files describe the logs just emptied.
    from randomisation.allocation import chain

    shutil.rmtree(chain.witness_dir(), ignore_errors=True)


def reset_demo(participants: int, seed: int) -> tuple[DemoResult, float]:
    """Fresh state: empty the bench database, then seed the demo trial.

    Returns the seed result and the seconds ``seed_demo`` itself took (without the reset).
    """
    from demo.seed import seed_demo

    reset_database()
    started = time.perf_counter()
    result = seed_demo(participants=participants, seed=seed)
    return result, time.perf_counter() - started


def emit(bench: str, metric: str, value: float | int | str, unit: str, note: str = "") -> None:
    """Report one figure as a JSON line on stdout (collected by bench/run.py)."""
    if isinstance(value, float):
        value = round(value, 3)
    record = {"bench": bench, "metric": metric, "value": value, "unit": unit, "note": note}
    print(json.dumps(record, ensure_ascii=False), flush=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 (median), p95 (nearest rank) and max of a list of samples."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)

    def rank(p: float) -> float:
        index = max(0, math.ceil(p / 100 * len(ordered)) - 1)
        return ordered[index]

    return {"p50": statistics.median(ordered), "p95": rank(95), "max": ordered[-1]}


def with_errors(note: str, result: dict[str, Any]) -> str:
    """A figure's note, with the number of failed requests and the first failure if any
    (``result["errors"]``, a list of messages)."""
    if result["errors"]:
        note += f", {len(result['errors'])} errors: {result['errors'][0]}"
    return note


def start_gunicorn(
    options: list[str], *, port: int = 0, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn serving config.wsgi on 127.0.0.1 (``port``, else a free one) with ``options``,
    in ``env`` (default: this environment with ``CONN_MAX_AGE=60``). Returns the process and
    its URL once /health/ answers; exits if it does not within about 30 s."""
    if not port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*command, *options], cwd=REPO_ROOT, env=env or dict(os.environ, CONN_MAX_AGE="60")
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/health/", timeout=2).close()
            return server, url
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def api_token(user: Any) -> str:
    """The key of a new API token for ``user`` (accounts.ApiToken), as the token endpoint gives."""
    from accounts.services import issue_token

    return issue_token(user, two_factor=True, actor=user)[1]
