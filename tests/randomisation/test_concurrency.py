"""Simultaneous randomisations through real HTTP against a real server on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from randomisation.allocation import verification
from randomisation.models import Allocation, BlockSlot, Scheme
from randomisation.schemes import services as scheme_services
from tests import factories
from tests.conftest import api_token
from trial.models import Membership, Trial

CLIENTS = 60
RETRIED = 10  # of the CLIENTS requests, this many are sent twice with the same key at once


@pytest.mark.django_db(transaction=True)
def test_simultaneous_randomisations_take_distinct_consecutive_slots(gunicorn_server: str) -> None:
    trial = factories.make_trial(code="race", status=Trial.Status.RECRUITING, target_size=30)
    site = factories.make_site(trial, "OSL")
    user = factories.make_user("coord")
    factories.make_membership(user, trial, Membership.Role.COORDINATOR)
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[4, 6], stratify_by_site=True
    )
    scheme_services.lock_scheme(scheme, actor=user)
    initial_slots = BlockSlot.objects.filter(scheme=scheme).count()
    assert initial_slots < CLIENTS  # the stratum must be extended under contention too
    people = [
        factories.make_participant(
            trial, site, consent_version="v1", consent_date=dt.date(2025, 3, 1)
        )
        for _ in range(CLIENTS)
    ]
    token = api_token(user)
    barrier = threading.Barrier(CLIENTS + RETRIED)

    def post(study_id: str, key: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{gunicorn_server}/api/v1/trials/race/participants/{study_id}/randomisation/",
            data=b"{}",
            method="POST",
            headers={
                "Authorization": f"Token {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        barrier.wait(timeout=30)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())

    jobs = [(p.study_id, f"key-{p.study_id}") for p in people]
    jobs += jobs[:RETRIED]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: post(*job), jobs))

    statuses = Counter(status for status, _ in results)
    assert statuses[201] == CLIENTS and statuses[200] == RETRIED, statuses
    by_study: dict[str, set[int]] = {}
    for _status, body in results:
        by_study.setdefault(body["study_id"], set()).add(body["sequence"])
    assert all(len(sequences) == 1 for sequences in by_study.values())  # retries: same answer

    allocations = list(Allocation.objects.filter(trial=trial).order_by("sequence"))
    assert [a.sequence for a in allocations] == list(range(1, CLIENTS + 1))
    assert sorted(a.slot_position or 0 for a in allocations) == list(range(1, CLIENTS + 1))
    used = BlockSlot.objects.filter(scheme=scheme, used=True)
    assert used.count() == CLIENTS
    assert not BlockSlot.objects.filter(
        scheme=scheme, used=False, position__lte=CLIENTS
    ).exists()  # no skipped slot
    # Every completed block is balanced 1:1.
    blocks: dict[int, Counter] = {}
    sizes: dict[int, int] = {}
    for slot in used.select_related("arm"):
        blocks.setdefault(slot.block_number, Counter())[slot.arm.code] += 1
        sizes[slot.block_number] = slot.block_size
    complete = [n for n, counts in blocks.items() if sum(counts.values()) == sizes[n]]
    assert complete and all(blocks[n]["A"] == blocks[n]["B"] for n in complete)
    assert verification.verify(trial).ok


@pytest.mark.django_db(transaction=True)
def test_one_participant_randomised_twice_at_once_gets_one_allocation(gunicorn_server: str) -> None:
    """Two coordinators press "randomise" for the same person at the same moment (different
    keys): one allocation; the other request is refused with the reason, not a server error.
    The check reads the participant only after the row lock is granted, so it sees the
    allocation the first request committed."""
    trial = factories.make_trial(code="twice", status=Trial.Status.RECRUITING, target_size=30)
    site = factories.make_site(trial, "OSL")
    user = factories.make_user("coord")
    factories.make_membership(user, trial, Membership.Role.COORDINATOR)
    scheme = Scheme.objects.create(
        trial=trial, method=Scheme.Method.BLOCKS, block_sizes=[4], stratify_by_site=True
    )
    scheme_services.lock_scheme(scheme, actor=user)
    people = [
        factories.make_participant(
            trial, site, consent_version="v1", consent_date=dt.date(2025, 3, 1)
        )
        for _ in range(6)
    ]
    token = api_token(user)
    jobs = [(p.study_id, f"{p.study_id}-{n}") for p in people for n in range(3)]
    barrier = threading.Barrier(len(jobs))

    def post(study_id: str, key: str) -> tuple[str, int, dict]:
        request = urllib.request.Request(
            f"{gunicorn_server}/api/v1/trials/twice/participants/{study_id}/randomisation/",
            data=b"{}",
            method="POST",
            headers={
                "Authorization": f"Token {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return study_id, response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return study_id, error.code, json.loads(error.read())

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: post(*job), jobs))

    for person in people:
        answers = sorted(status for study_id, status, _ in results if study_id == person.study_id)
        assert answers == [201, 400, 400], (person.study_id, answers)
    refusals = [body for _, status, body in results if status == 400]
    assert all("already randomised" in body["errors"]["non_field_errors"][0] for body in refusals)
    assert Allocation.objects.filter(trial=trial).count() == len(people)
    assert verification.verify(trial).ok
