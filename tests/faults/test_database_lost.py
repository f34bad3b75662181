"""The PostgreSQL connection of a request killed in the middle of its transaction.

The application runs under gunicorn. The test holds a lock on the audit table, which every
write takes last, so a randomisation or a contact stops inside its transaction after writing
its own rows; the test then ends that server connection with ``pg_terminate_backend``, as a
database restart or a network cut would. Nothing of the request may remain, the client gets
503 (the API's error shape), and a retry with the same idempotency key or client id is
recorded exactly once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dj_database_url
import psycopg
import pytest
import requests
from django.db import connection

from fidelity.models import Contact
from randomisation.allocation import verification
from randomisation.models import Allocation, BlockSlot
from tests.conftest import OWNER_URL
from tests.faults.conftest import Gunicorn, Ready, contact_body, wait_for
from trial.models import AuditEvent, Participant


@pytest.fixture
def server(require_postgres: None) -> Iterator[str]:
    app = Gunicorn()
    try:
        yield app.url
    finally:
        app.stop()


def connect(*, as_owner: bool = False) -> psycopg.Connection[Any]:
    """A connection as the application's role (which may end its own backends), or as the
    tables' owner, who may lock a table the application's role may only add to."""
    db = connection.settings_dict
    user = dj_database_url.parse(OWNER_URL)["USER"] if as_owner and OWNER_URL else db["USER"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=user,
        dbname=db["NAME"],
        autocommit=True,
    )


def cut_mid_transaction(send: Callable[[], requests.Response], table: str) -> requests.Response:
    """Send the request while the audit table is locked; once its backend waits for that lock,
    having taken a write lock on ``table``, terminate the backend. Returns the response."""
    audit_table = AuditEvent._meta.db_table
    answer: dict[str, requests.Response] = {}
    with connect(as_owner=True) as locker, connect() as watcher:
        locker.autocommit = False
        locker.execute(f'LOCK TABLE "{audit_table}" IN EXCLUSIVE MODE')
        thread = threading.Thread(target=lambda: answer.setdefault("response", send()))
        thread.start()

        def blocked_backend() -> int | None:
            row = watcher.execute(
                """
                SELECT a.pid FROM pg_stat_activity a
                WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
                  AND a.query LIKE %s
                  AND EXISTS (
                    SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                    WHERE l.pid = a.pid AND l.granted AND c.relname = %s
                      AND l.mode = 'RowExclusiveLock')
                """,
                [f'INSERT INTO "{audit_table}"%', table],
            ).fetchone()
            return row[0] if row else None

        pid = wait_for(blocked_backend, 30, f"a request stopped after writing to {table}")
        watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
        locker.rollback()
        thread.join(timeout=60)
    return answer["response"]


@pytest.mark.django_db(transaction=True)
def test_a_randomisation_cut_off_from_the_database_leaves_nothing_and_a_retry_counts_once(
    ready: Ready, server: str
) -> None:
    person = ready.waiting[0]
    url = f"{server}/api/v1/trials/ips/participants/{person.study_id}/randomisation/"
    headers = {"Authorization": f"Token {ready.tokens['coordinator']}", "Idempotency-Key": "k-1"}
    allocations = Allocation.objects.filter(trial=ready.trial)
    before = (allocations.count(), BlockSlot.objects.filter(used=True).count())
    events = AuditEvent.objects.count()

    response = cut_mid_transaction(
        lambda: requests.post(url, json={}, headers=headers, timeout=60),
        Allocation._meta.db_table,
    )

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json()["code"] == "service_unavailable"
    assert (allocations.count(), BlockSlot.objects.filter(used=True).count()) == before
    assert AuditEvent.objects.count() == events
    assert Participant.objects.get(pk=person.pk).randomised_on is None
    assert verification.verify(ready.trial).ok

    retried = requests.post(url, json={}, headers=headers, timeout=60)
    assert retried.status_code == 201, retried.text
    again = requests.post(url, json={}, headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["sequence"] == retried.json()["sequence"]
    assert allocations.count() == before[0] + 1
    assert allocations.filter(participant=person).count() == 1
    assert verification.verify(ready.trial).ok
    # The server's connections recovered: other requests are served as before.
    other = ready.waiting[1]
    fresh = requests.post(
        f"{server}/api/v1/trials/ips/participants/{other.study_id}/randomisation/",
        json={},
        headers={**headers, "Idempotency-Key": "k-2"},
        timeout=60,
    )
    assert fresh.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_contact_cut_off_from_the_database_leaves_nothing_and_a_retry_counts_once(
    ready: Ready, server: str
) -> None:
    url = f"{server}/api/v1/trials/ips/contacts/"
    headers = {"Authorization": f"Token {ready.tokens['caseworker']}"}
    body = contact_body(ready.randomised[0], str(uuid.uuid4()))
    events = AuditEvent.objects.count()

    response = cut_mid_transaction(
        lambda: requests.post(url, json=body, headers=headers, timeout=60),
        Contact._meta.db_table,
    )

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert not Contact.objects.exists() and not Contact.components.through.objects.exists()
    assert AuditEvent.objects.count() == events

    retried = requests.post(url, json=body, headers=headers, timeout=60)
    assert retried.status_code == 201, retried.text
    again = requests.post(url, json=body, headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["id"] == retried.json()["id"]
    assert Contact.objects.filter(client_id=body["client_id"]).count() == 1
    assert Contact.components.through.objects.count() == 1
