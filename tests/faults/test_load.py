"""The load test in its short form: mixed traffic from locust against gunicorn on PostgreSQL
for 20 seconds, then every accepted write is looked up in the database.

No timing is asserted (the machine is shared); only correctness: no server error, no refused
or lost write, nothing stored twice, the allocation chain intact. The long form, with the
figures, is ``bench/run.py load`` (bench/bench_load.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.faults.conftest import Gunicorn

sys.path.insert(0, str(Path(settings.BASE_DIR) / "bench"))
import loadtest


@pytest.mark.django_db(transaction=True)
def test_mixed_traffic_loses_nothing_and_stores_each_write_once(
    require_postgres: None, tmp_path: Path, settings: Any
) -> None:
    settings.FILES_ROOT = tmp_path / "files"
    config = loadtest.prepare("load", sites=3, randomised_per_site=10, to_randomise=400)
    server = Gunicorn()
    try:
        run = loadtest.run_locust(
            server.url, config, tmp_path / "locust", users=12, spawn_rate=6, seconds=20
        )
    finally:
        server.stop()
    result = loadtest.check(config, run["records"])

    assert result["problems"] == dict.fromkeys(result["problems"], 0), result
    endpoints = {row["name"] for row in run["stats"]}
    assert {"POST contact", "POST randomise", "GET dashboard", "GET report ZIP"} <= endpoints
    assert result["accepted"]["contact"] > 0 and result["accepted"]["randomisation"] > 0
    # Locust's failures are tries that lost their connection and were sent again.
    aggregated = next(row for row in run["stats"] if row["name"] == "Aggregated")
    assert aggregated["failures"] == result["resent"], run["stats"]
