"""Verifying a large allocation log: ``verification.verify`` and ``manage.py verify_allocations``.

A trial with 12 sites and permuted blocks of 4 and 6 stratified by site, locked (so the sealed
lists exist), and 100,000 allocations written in bulk: each takes its stratum's next slot, and
the chain is hashed and signed as ``_append`` does. The witness file gets what the allocations
would have written: an ``intent`` and a ``commit`` line each (200,000 lines, through
``chain.write_witness``, whose time per line is a figure of its own). Then the whole log is
verified: hash chain, MACs, witness, commitment and sealed lists. Issue target: under 10 s.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, emit, reset_database, setup_django

BENCH = "verify"
ALLOCATIONS = int(os.environ.get("BENCH_VERIFY_ALLOCATIONS", "100000"))
SITES = 12


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def build(rng: random.Random) -> tuple[object, float]:
    from randomisation.allocation import chain

    trial, user, scheme, people = make_trial(rng)
    rows = allocate(trial, user, scheme, people)
    started = time.perf_counter()
    for allocation in rows:
        chain.write_witness(trial.code, "intent", allocation.sequence, allocation.hash)
        chain.write_witness(trial.code, "commit", allocation.sequence, allocation.hash)
    per_line = (time.perf_counter() - started) / (2 * len(rows))
    return trial, per_line


def make_trial(rng: random.Random) -> tuple[Any, Any, Any, list[Any]]:
    """A trial with a locked block scheme stratified by site and ALLOCATIONS participants."""
    from django.contrib.auth import get_user_model

    from randomisation.models import Scheme
    from randomisation.schemes import services as schemes
    from trial.models import Arm, Participant, Site, Trial

    trial = Trial.objects.create(
        code="bench-verify", title="bench", status=Trial.Status.RECRUITING, target_size=ALLOCATIONS
    )
    Arm.objects.create(trial=trial, code="A", name="IPS")
    Arm.objects.create(trial=trial, code="B", name="Usual", is_control=True)
    sites = [
        Site.objects.create(trial=trial, code=f"S{i:02d}", name=f"NAV {i}") for i in range(SITES)
    ]
    user = get_user_model().objects.create_user("bench-verify")
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[4, 6], stratify_by_site=True
    )
    schemes.lock_scheme(scheme, actor=user)
    people = Participant.objects.bulk_create(
        (
            Participant(
                trial=trial,
                site=rng.choice(sites),
                study_id=f"V-{i:06d}",
                personal_number_encrypted="-",
                personal_number_hash=secrets.token_hex(32),
                enrolled_on=dt.date(2026, 1, 1),
                consent_version="1",
                consent_date=dt.date(2026, 1, 1),
                randomised_on=dt.date(2026, 1, 2),
            )
            for i in range(ALLOCATIONS)
        ),
        batch_size=5000,
    )
    return trial, user, scheme, people


def allocate(trial: Any, user: Any, scheme: Any, people: list[Any]) -> list[Any]:
    """Each participant allocated the next sealed slot of their site, signed into the chain and
    written in bulk; the slots taken marked used."""
    from django.db import connection
    from django.utils import timezone

    from randomisation.allocation import log
    from randomisation.models import Allocation, BlockSlot

    slots: dict[str, list[BlockSlot]] = {}
    for slot in BlockSlot.objects.filter(scheme=scheme).order_by("stratum", "position"):
        slots.setdefault(slot.stratum, []).append(slot)
    taken = dict.fromkeys(slots, 0)
    previous = log.GENESIS
    now = timezone.now()
    rows = []
    for sequence, person in enumerate(people, start=1):
        stratum = f"site={person.site.code}"
        slot = slots[stratum][taken[stratum]]
        taken[stratum] += 1
        allocation = Allocation(
            trial=trial,
            sequence=sequence,
            scheme=scheme,
            participant=person,
            stratum=stratum,
            arm_id=slot.arm_id,
            slot_position=slot.position,
            details={"factors": {"site": person.site.code}, "block": slot.block_number},
            allocated_on=dt.date(2026, 1, 2),
            created_at=now,
            allocated_by=user,
            allocated_by_name=user.username,
            source=Allocation.Source.SYSTEM,
            previous_hash=previous,
        )
        allocation.trial = trial
        allocation.scheme = scheme
        allocation.arm = slot.arm
        log.sign_allocation(allocation)
        previous = allocation.hash
        rows.append(allocation)
    Allocation.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        for stratum, count in taken.items():
            cursor.execute(
                "UPDATE randomisation_blockslot SET used = true"
                " WHERE scheme_id = %s AND stratum = %s AND position <= %s",
                [scheme.pk, stratum, count],
            )
    return rows


def main() -> None:
    setup_django()
    reset_database()
    from randomisation.allocation import chain, verification

    rng = random.Random(2026)  # noqa: S311 - synthetic data
    started = time.perf_counter()
    trial, per_line = build(rng)
    emit(BENCH, "data load", time.perf_counter() - started, "s", f"{ALLOCATIONS} allocations")
    size = chain.witness_path(trial.code).stat().st_size  # type: ignore[attr-defined]
    emit(
        BENCH,
        "witness write per line",
        per_line * 1e6,
        "µs",
        f"open, flock, read the tail, O_APPEND write, close; {size / 1e6:.1f} MB for "
        f"{2 * ALLOCATIONS} lines",
    )
    timings = []
    for _ in range(3):
        load = load_average()
        started = time.perf_counter()
        result = verification.verify(trial)  # type: ignore[arg-type]
        timings.append(time.perf_counter() - started)
        if not result.ok:
            raise SystemExit(f"the log does not verify: {result.problems[:3]}")
    emit(
        BENCH,
        "services.verify",
        sorted(timings)[1],
        "s",
        f"median of 3 ({', '.join(f'{t:.2f}' for t in timings)} s); {result.checked} "
        f"allocations, {2 * ALLOCATIONS} witness lines; load average {load}",
    )
    load = load_average()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "verify_allocations", trial.code],  # type: ignore[attr-defined]
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"verify_allocations failed: {done.stderr.strip()[-300:]}")
    emit(
        BENCH,
        "verify_allocations command",
        time.perf_counter() - started,
        "s",
        f"a process of its own, Django start-up included; load average {load}",
    )


if __name__ == "__main__":
    main()
