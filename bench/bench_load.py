"""The load test, long form: mixed traffic from locust against gunicorn on PostgreSQL.

A recruiting trial with 12 sites (a caseworker and 25 randomised participants each) and 4,000
participants waiting to be randomised; gunicorn with 2 workers x 16 threads. For LOAD_SECONDS
(default 120) LOAD_USERS (default 40) locust users send mixed traffic (bench/locustfile.py):
caseworkers log contacts through the API and now and then resubmit one, coordinators open
dashboards and randomise participants with idempotency keys, statisticians download a
report. Figures: requests per second and p50/p95 per endpoint and overall; then the
exactly-once check (bench/loadtest.py ``check``): accepted writes, and every problem count
(must be 0). The note of the first figure gives the machine's load average before the run:
the figures mean little on a busy machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadtest
from common import emit, reset_database, setup_django, start_gunicorn

BENCH = "load"
SECONDS = int(os.environ.get("LOAD_SECONDS", "120"))
USERS = int(os.environ.get("LOAD_USERS", "40"))


def start_server() -> tuple[subprocess.Popen, str]:
    options = ["--workers", "2", "--threads", "16", "--backlog", "512", "--log-level", "error"]
    env = dict(os.environ, CONN_MAX_AGE="60", TWO_FACTOR_REQUIRED="false", SECURE_COOKIES="false")
    return start_gunicorn(options, port=int(os.environ.get("LOAD_PORT", "0")), env=env)


def main() -> None:
    setup_django()
    reset_database()
    started = time.perf_counter()
    config = loadtest.prepare("load", sites=12, randomised_per_site=25, to_randomise=4000)
    emit(BENCH, "prepare", time.perf_counter() - started, "s", "trial, people, report")
    load_before = os.getloadavg()
    server, url = start_server()
    try:
        with tempfile.TemporaryDirectory(prefix="worktrials-load-") as folder:
            run = loadtest.run_locust(
                url, config, Path(folder), users=USERS, spawn_rate=10, seconds=SECONDS
            )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    load_after = os.getloadavg()
    machine = (
        f"{USERS} users for {SECONDS} s; load average before {load_before[0]:.1f}, "
        f"after {load_after[0]:.1f} ({os.cpu_count()} CPUs)"
    )
    for row in run["stats"]:
        name = "all requests" if row["name"] == "Aggregated" else row["name"]
        note = f"{row['requests']} requests, {row['failures']} failed tries"
        if name == "all requests":
            note += f"; {machine}"
        emit(BENCH, f"{name} rate", row["per_second"], "req/s", note)
        emit(BENCH, f"{name} p50", row["median_ms"], "ms", note)
        emit(BENCH, f"{name} p95", row["p95_ms"], "ms", note)
    result = loadtest.check(config, run["records"])
    emit(
        BENCH,
        "connections lost, sent again",
        result["resent"],
        "",
        "no answer (a kept-alive connection closed by the server); resent with the same key",
    )
    for what, count in result["accepted"].items():
        emit(BENCH, f"accepted {what}s", count, "", "2xx answers, each checked in the database")
    for problem, count in result["problems"].items():
        emit(BENCH, problem, count, "", "must be 0")
    emit(BENCH, "chain verified", result["chain_checked"], "allocations", "after the run")
    if any(result["problems"].values()):
        raise SystemExit(f"the load test lost or doubled writes: {result['problems']}")


if __name__ == "__main__":
    main()
