"""The load test's harness: data, the locust run, and the exactly-once check afterwards.

Used by bench/bench_load.py (the long form, ``make bench``) and by
tests/faults/test_load.py (the short form, in the test suite). Django must be set up, on the
database the server under test uses. See bench/README.md ("load").

1. :func:`prepare` makes a recruiting trial with a locked blocks scheme, caseworkers at their
   own sites with randomised participants, participants waiting to be randomised, a built
   report, API tokens and signed-in sessions; it returns the facts the locustfile needs.
2. :func:`run_locust` runs bench/locustfile.py headless for a fixed time in a subprocess
   (locust patches the standard library with gevent, which must not happen in the caller) and
   returns the statistics per endpoint and every answer the users recorded. (Locust counts
   a try that lost its connection as a failure; the users send it again, and the final
   answer is what is checked.)
3. :func:`check` compares the answers with the database: every accepted contact (by client id)
   and randomisation (by idempotency key) is there exactly once, nothing is there that was not
   accepted, no retry created a second record, and the allocation chain verifies.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

BENCH_DIR = Path(__file__).resolve().parent
LOCUSTFILE = BENCH_DIR / "locustfile.py"
COMPONENTS = [("rapid", "Rapid job search", True), ("benefits", "Benefits counselling", False)]
ACCEPTED = (200, 201)


def prepare(
    code: str, *, sites: int, randomised_per_site: int, to_randomise: int
) -> dict[str, Any]:
    """Create the trial and its people; return the locustfile's facts (JSON-able)."""
    from django.utils import timezone

    from accounts.services import issue_token
    from randomisation.allocation.services import randomise
    from randomisation.models import Scheme
    from randomisation.schemes.services import lock_scheme
    from trial.models import Membership

    today = timezone.localdate()
    trial, site_rows = make_trial(code, sites)
    coordinator = member(trial, f"{code}-coordinator", Membership.Role.COORDINATOR)
    statistician = member(trial, f"{code}-statistician", Membership.Role.STATISTICIAN)
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[4, 6], stratify_by_site=True
    )
    lock_scheme(scheme, actor=coordinator)

    caseworkers = []
    for site in site_rows:
        user = member(trial, f"{code}-caseworker-{site.code}", Membership.Role.CASEWORKER, site)
        mine = make_people(site, randomised_per_site, 0, today)
        for person in mine:
            randomise(person, actor=coordinator)
        caseworkers.append(
            {
                "token": issue_token(user, two_factor=True, actor=user)[1],
                "participants": [p.study_id for p in mine],
            }
        )
    waiting = []
    for index in range(to_randomise):
        site = site_rows[index % sites]
        waiting.extend(make_people(site, 1, randomised_per_site + index, today))
    report = built_report(trial, statistician, today)

    return {
        "trial": code,
        "today": today.isoformat(),
        "components": [key for key, _name, _specific in COMPONENTS],
        "caseworkers": caseworkers,
        "coordinator_token": issue_token(coordinator, two_factor=True, actor=coordinator)[1],
        "coordinator_session": session(coordinator),
        "statistician_session": session(statistician),
        "to_randomise": [p.study_id for p in waiting],
        "report": report,
        "allocations_before": trial.allocations.count(),
    }


def make_trial(code: str, sites: int) -> tuple[Any, list[Any]]:
    """A recruiting trial with two arms, ``sites`` sites and COMPONENTS; and its sites."""
    from fidelity.models import Component
    from trial.models import Arm, Site, Trial

    trial = Trial.objects.create(
        code=code, title=f"Load test {code}", status=Trial.Status.RECRUITING, target_size=100_000
    )
    Arm.objects.create(trial=trial, code="A", name="IPS")
    Arm.objects.create(trial=trial, code="B", name="Usual", is_control=True)
    site_rows = [
        Site.objects.create(trial=trial, code=f"S{i:02d}", name=f"NAV {i}") for i in range(sites)
    ]
    for order, (key, name, specific) in enumerate(COMPONENTS):
        Component.objects.create(
            trial=trial, code=key, name=name, intervention_specific=specific, order=order
        )
    return trial, site_rows


def member(trial: Any, username: str, role: str, site: Any = None) -> Any:
    """A new user with ``role`` in the trial (at ``site`` only, if given)."""
    from django.contrib.auth import get_user_model

    from trial.models import Membership

    user = get_user_model().objects.create_user(username)
    membership = Membership.objects.create(trial=trial, user=user, role=role)
    if site is not None:
        membership.sites.set([site])
    return user


def make_people(site: Any, n: int, start: int, today: Any) -> list[Any]:
    """``n`` consented participants at ``site``, numbered from ``start``."""
    from trial.models import Participant

    return Participant.objects.bulk_create(
        Participant(
            trial=site.trial,
            site=site,
            study_id=f"{site.trial.code}-{site.code}-{start + i:05d}",
            personal_number_encrypted="-",
            personal_number_hash=secrets.token_hex(32),
            enrolled_on=today,
            consent_version="1",
            consent_date=today,
        )
        for i in range(n)
    )


def built_report(trial: Any, statistician: Any, today: Any) -> int:
    """The id of a data report built here (not by a worker), for the users to download."""
    from reports import services as reports

    with mock.patch.object(reports, "enqueue"):
        report = reports.request_report(trial, kind="data", cut_off=today, actor=statistician)
    if reports.execute_report(report.pk) != "done":
        raise RuntimeError("the report to download could not be built")
    return report.pk


def session(user: Any) -> str:
    """The session cookie of ``user`` signed in."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def run_locust(
    url: str,
    config: dict[str, Any],
    folder: Path,
    *,
    users: int,
    spawn_rate: float,
    seconds: int,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the locustfile headless against ``url`` for ``seconds``. Returns ``stats`` (one row
    per endpoint: requests, failures, requests/s, median, p95, max in ms, plus "Aggregated"),
    ``records`` (every answer the users recorded) and ``seconds`` (the run time asked)."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path, record_path = folder / "config.json", folder / "answers.jsonl"
    config_path.write_text(json.dumps(config))
    record_path.write_text("")
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["--host", url, "--users", str(users), "--spawn-rate", str(spawn_rate)]
    command += ["--run-time", f"{seconds}s", "--stop-timeout", "30", "--csv", str(folder / "run")]
    command += ["--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    done = subprocess.run(
        command,
        env={
            **(env or os.environ),
            "LOAD_CONFIG": str(config_path),
            "LOAD_RECORD": str(record_path),
        },
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"locust failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    stats = []
    with (folder / "run_stats.csv").open() as handle:
        for row in csv.DictReader(handle):
            stats.append(
                {
                    "name": row["Name"] if row["Type"] else "Aggregated",
                    "method": row["Type"],
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "per_second": float(row["Requests/s"]),
                    "median_ms": float(row["Median Response Time"] or 0),
                    "p95_ms": float(row["95%"] or 0) if row["95%"] != "N/A" else 0.0,
                    "max_ms": float(row["Max Response Time"] or 0),
                }
            )
    records = [json.loads(line) for line in record_path.read_text().splitlines() if line]
    return {"stats": stats, "records": records, "seconds": seconds, "stderr": done.stderr}


def check(config: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Compare the recorded answers with the database (see the module docstring). Every count
    under ``problems`` must be 0; ``accepted`` says how many writes were checked, ``resent``
    how many requests lost their connection before an answer and were sent again."""
    from fidelity.models import Contact
    from randomisation.allocation.verification import verify
    from randomisation.models import Allocation
    from trial.models import Trial

    trial = Trial.objects.get(code=config["trial"])
    statuses = Counter(r["status"] for r in records)
    problems: dict[str, int] = {
        "server errors (5xx)": sum(n for status, n in statuses.items() if status >= 500),
        "no answer after 3 tries": statuses.get(0, 0),
    }
    accepted: dict[str, int] = {}
    stores = {
        "contact": (Contact.objects.filter(trial=trial), "client_id"),
        "randomisation": (Allocation.objects.filter(trial=trial), "idempotency_key"),
    }
    for what, (rows, field) in stores.items():
        mine = [r for r in records if r["what"] == what]
        sent = {r["key"] for r in mine}
        ok = {r["key"] for r in mine if r["status"] in ACCEPTED}
        created = Counter(r["key"] for r in mine if r["status"] == 201)
        in_db = Counter(
            str(value)
            for value in rows.exclude(**{f"{field}__isnull": True}).values_list(field, flat=True)
        )
        in_db_sent = {key: n for key, n in in_db.items() if key in sent}
        accepted[what] = len(ok)
        problems[f"{what}: accepted but missing"] = len(ok - set(in_db_sent))
        problems[f"{what}: stored more than once"] = sum(1 for n in in_db_sent.values() if n > 1)
        problems[f"{what}: stored without being accepted"] = len(set(in_db_sent) - ok)
        problems[f"{what}: created twice (a retry answered 201)"] = sum(
            1 for n in created.values() if n > 1
        )
        problems[f"{what}: refused (4xx)"] = sum(1 for r in mine if 400 <= r["status"] < 500)
    new_allocations = trial.allocations.count() - config["allocations_before"]
    problems["randomisation: allocations not accounted for"] = abs(
        new_allocations - accepted["randomisation"]
    )
    verification = verify(trial)
    problems["allocation chain broken"] = 0 if verification.ok else len(verification.problems)
    reads = [r for r in records if r["what"] == "read"]
    problems["reads not answered 200"] = sum(1 for r in reads if r["status"] != 200)
    return {
        "accepted": accepted,
        "resent": sum(r.get("resets", 0) for r in records),
        "reads": len(reads),
        "statuses": dict(sorted(statuses.items())),
        "chain_checked": verification.checked,
        "problems": problems,
    }
