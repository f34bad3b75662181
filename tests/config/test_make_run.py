"""`make run` for real, on a fresh embedded default: it migrates, seeds and serves; Ctrl-C (SIGINT
to make's process group) stops the web server, the worker and all its processes within 10 s,
even while a report is being built, and everything it wrote is under var/."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import _missing

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds processes in /proc")

ROOT = Path(settings.BASE_DIR)
# What a run may leave in the checkout besides var/: Python's byte-code caches.
NOT_THE_RUNS = {".git", ".venv", "var", "__pycache__"}


def files_outside_var() -> set[str]:
    found: set[str] = set()
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in NOT_THE_RUNS]
        found.update(os.path.relpath(os.path.join(folder, name), ROOT) for name in files)
        found.update(os.path.relpath(os.path.join(folder, name), ROOT) + "/" for name in subfolders)
    return found


def processes_with(marker: str) -> list[str]:
    """The live processes whose environment holds ``marker`` (the run's own VAR_DIR)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if marker.encode() not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # exited, waiting for its parent to notice
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode()
            found.append(f"{pid}: {command[:120]}")
        except OSError:
            continue
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.5)


ORDER_REPORT = """
import datetime as dt
from django.contrib.auth import get_user_model
from reports import services
from trial.models import Trial
services.request_report(
    Trial.objects.get(code="ips-demo"), kind="full", cut_off=dt.date.today(),
    actor=get_user_model().objects.get(username="coordinator"),
)
"""


def test_make_run_stops_within_ten_seconds_of_ctrl_c_and_writes_only_under_var(
    tmp_path: Path,
) -> None:
    if os.environ.get("DATABASE_URL"):
        # Not a missing service: this pass is PostgreSQL's, and .ci/run's first pass (no
        # DATABASE_URL, as a newcomer runs make run) runs this test.
        pytest.skip("make run is the embedded default; checked in the run without DATABASE_URL")
    if subprocess.run(["make", "--version"], capture_output=True).returncode != 0:  # noqa: S607
        _missing("make")
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix):
        _missing("the virtual environment make run uses (the tests run outside one)")
    var = tmp_path / "var"
    # A newcomer's environment: none of the deploy settings, a var/ of its own.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "VAR_DIR": str(var),
    }
    before = files_outside_var()
    port = free_port()
    log_path = tmp_path / "make-run.log"
    command = ["make", "run", f"VENV={venv}", "-o", f"{venv}/.installed", f"ADDR=127.0.0.1:{port}"]
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def healthy() -> bool:
            assert make.poll() is None, log_path.read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2).close()
            except OSError:
                return False
            return True

        wait_for(healthy, 300, "make run answering /health/")
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", ORDER_REPORT],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        taken = "reports.tasks.build_report["  # the task list at start names it without "["
        wait_for(lambda: taken in log_path.read_text(), 60, "the worker taking the report")
        time.sleep(2)
        building = "succeeded" not in log_path.read_text().split(taken, 1)[1]

        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in the terminal
        started = time.monotonic()
        marker = f"VAR_DIR={var}"
        while make.poll() is None or processes_with(marker):
            if time.monotonic() - started > 30:
                break
            time.sleep(0.1)
        took = time.monotonic() - started
        left = processes_with(marker)
    finally:
        for line in processes_with(f"VAR_DIR={var}"):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()

    assert not left, left
    assert took < 10, f"stopped after {took:.1f} s\n{log_path.read_text()[-3000:]}"
    assert files_outside_var() - before == set()
    assert (var / "db.sqlite3").exists() and any((var / "celery" / "control").iterdir())
    if building:  # the cancelled build went back to the queue, to run at the next start
        assert any((var / "celery" / "queue").iterdir()), log_path.read_text()[-3000:]
