"""`make run`'s last step: the Celery worker (with beat) and Django's development server on the
embedded default, started together and stopped together within seconds of Ctrl-C.

Usage: python scripts/run_embedded.py [ADDR]   (default 127.0.0.1:8000)

The worker runs in a process group of its own, so the terminal's Ctrl-C reaches only this
script and the web server; the script then asks the worker for a *cold* shutdown (SIGQUIT):
running tasks are cancelled and their messages go back to the queue under var/celery, to run
again at the next start (every task is idempotent). A warm shutdown, what Ctrl-C gives a worker
directly, waits for running tasks, and a report build takes minutes. On the embedded default's
file-system broker the worker's pool can also hang at exit after a cold shutdown (billiard's
plain pool: a task's process that has threads, e.g. numpy's OpenBLAS, can die holding the
result queue's lock), so whatever of the worker is left after STOP_GRACE seconds is killed; the
messages were put back before that point.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
# Seconds the worker gets to finish a cold shutdown before it is killed. A cold shutdown of an
# idle worker takes 3-7 s on a busy 2-core machine; Ctrl-C must end everything within 10 s.
STOP_GRACE = 7.0


def _say(message: str) -> None:
    print(f"run_embedded: {message}", file=sys.stderr)  # noqa: T201


def _wait(process: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _stop(worker: subprocess.Popen[bytes], server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()  # has already had the terminal's SIGINT, if there was a terminal
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGQUIT)
    deadline = time.monotonic() + STOP_GRACE
    if not _wait(worker, STOP_GRACE):
        _say(f"the worker did not stop in {STOP_GRACE:.0f} s; killed")
    with contextlib.suppress(ProcessLookupError):  # what is left: the worker, its pool, beat
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    if not _wait(server, max(deadline - time.monotonic(), 0.5)):
        server.kill()
        server.wait()


def main() -> int:
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8000"
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    # Set before the children start, so that a Ctrl-C while they start is not lost.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config", "worker", "--beat", "--concurrency=2"]
    # Fixed commands; only the address comes from the caller (make's ADDR).
    worker = subprocess.Popen(  # noqa: S603
        [*celery, "--loglevel=INFO"], cwd=ROOT, start_new_session=True
    )
    server = subprocess.Popen(  # noqa: S603
        [python, "manage.py", "runserver", "--noreload", addr], cwd=ROOT
    )
    while not stopping and worker.poll() is None and server.poll() is None:
        time.sleep(0.2)
    # Unless asked to stop, one of the two ended on its own (a port in use, a broken setting).
    ended = None if stopping else "worker" if worker.returncode is not None else "web server"
    _stop(worker, server)
    if ended:
        _say(f"the {ended} stopped, so both were stopped")
        return 1
    return 128 + stopping[0]


if __name__ == "__main__":
    sys.exit(main())
