"""Participant questionnaires at scale: the day's invitations for 10,000 participants, sent by
e-mail through Django's SMTP backend to a local SMTP server, and the participant's page.

A trial of 10,000 participants (bulk_create, as in bench_follow_up.py), each with an e-mail
address (encrypted, as ``set_contact_details`` stores it) and a 3-month visit whose window is
open today, where a four-item self-completed instrument with branching is asked. An aiosmtpd
server, started by this script in a process of its own on a free local port, receives what
Django's SMTP e-mail backend delivers (with BENCH_RELAY_DELAY_MS, each message is answered that
many milliseconds later, as by a relay on another machine). Timed: ``create_invitations`` (one
row per participant) and ``send_due`` (per message a transaction, row lock, two rendered
templates and one SMTP delivery; SURVEY_SEND_CONNECTIONS senders at once, each with one SMTP
connection for the run), the whole run as the beat task does it
(issue target: under 60 s), and how many messages the server received.

Then the participant's page through Django's test Client (no web server, as bench_pages.py):
GETs of the first question on different links, and POSTs of an answer (saved on the server,
then a redirect), each 3 warm-up requests and 300 timed ones (issue target: p95 under 200 ms).
The link throttle is raised for the run (one client address sends them all). Run through
bench/run.py, which provides the PostgreSQL/Redis environment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, percentiles, reset_database, setup_django

BENCH = "surveys"
PARTICIPANTS = 10_000
BATCH = 2_000
WARMUP = 3
REQUESTS = 300
CODE = "bench-surveys"
# BENCH_RELAY_DELAY_MS: the SMTP server answers each message that much later, as a relay on
# another machine does (round trip and its own work); by default 0, a local server.
RELAY_DELAY_MS = float(os.environ.get("BENCH_RELAY_DELAY_MS", "0"))


def build(today: dt.date) -> int:
    """The trial, its participants, their visits and contact details; returns how many."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from instruments.setup import services as setup
    from surveys.models import ContactDetails
    from tests.surveys.scene import definition
    from trial import personal_numbers
    from trial.models import Arm, Membership, Participant, Site, Trial, Visit, VisitDefinition

    User = get_user_model()
    with transaction.atomic():
        trial = Trial.objects.create(
            code=CODE, title="Questionnaire benchmark", status=Trial.Status.RECRUITING
        )
        Arm.objects.create(trial=trial, code="A", name="IPS")
        Arm.objects.create(trial=trial, code="B", name="Usual services", is_control=True)
        site = Site.objects.create(trial=trial, code="OSL", name="NAV Grünerløkka")
        m3 = VisitDefinition.objects.create(
            trial=trial, code="m3", label="3 months", offset_months=3
        )
        coordinator = User.objects.create(username="bench-coordinator")
        Membership.objects.create(trial=trial, user=coordinator, role=Membership.Role.COORDINATOR)
        instrument = setup.create_instrument(
            trial,
            code="wellbeing",
            name_en="Wellbeing",
            name_nb="Trivsel",
            definition=definition(),
            actor=coordinator,
        )
        setup.attach_instrument(instrument, [m3], actor=coordinator, self_completed=[m3])
        randomised = today - dt.timedelta(days=92)
        people = Participant.objects.bulk_create(
            [
                Participant(
                    trial=trial,
                    site=site,
                    study_id=f"OSL-{i:06d}",
                    enrolled_on=randomised,
                    randomised_on=randomised,
                    consent_version="1",
                    consent_date=randomised,
                )
                for i in range(PARTICIPANTS)
            ],
            batch_size=BATCH,
        )
        Visit.objects.bulk_create(
            [
                Visit(
                    participant=person,
                    definition=m3,
                    due_on=today,
                    window_start=today - dt.timedelta(days=1),
                    window_end=today + dt.timedelta(days=28),
                )
                for person in people
            ],
            batch_size=BATCH,
        )
        ContactDetails.objects.bulk_create(
            [
                ContactDetails(
                    participant=person,
                    email_encrypted=personal_numbers.encrypt(f"p{n}@example.org"),
                    language="nb" if n % 4 else "en",
                )
                for n, person in enumerate(people)
            ],
            batch_size=BATCH,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return len(people)


class Inbox:
    """The SMTP server's handler: counts what it accepts (shared with the measuring process),
    after ``delay`` seconds for each message (a relay's own work and round trip; 0 locally)."""

    def __init__(self, counter: Any, delay: float) -> None:
        self.counter = counter
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # other connections are served meanwhile
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(port: int, counter: Any, ready: Any, stop: Any) -> None:
    """The local SMTP server, in a process of its own started by this script: in a thread of
    the sending process it would compete for the interpreter lock at every SMTP round trip,
    and measure that rather than the sending."""
    from aiosmtpd.controller import Controller

    controller = Controller(Inbox(counter, RELAY_DELAY_MS / 1000), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def send_invitations(today: dt.date) -> None:
    from django.conf import settings

    from surveys import delivery

    port = free_port()
    counter = multiprocessing.Value("i", 0)
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, counter, ready, stop))
    server.start()
    if not ready.wait(30):
        raise SystemExit("the local SMTP server did not start")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    try:
        started = time.perf_counter()
        created = delivery.create_invitations(today)
        made = time.perf_counter() - started
        summary = delivery.send_due(today)
        total = time.perf_counter() - started
    finally:
        stop.set()
        server.join(30)
    emit(BENCH, "create invitations", made, "s", f"{created} invitations (one per participant)")
    emit(
        BENCH,
        "send invitations",
        total - made,
        "s",
        f"{summary.invited} sent, {summary.failed} failed; "
        f"{summary.invited / (total - made):.0f} messages/s",
    )
    emit(
        BENCH,
        "create and send",
        total,
        "s",
        f"target under 60 s; the SMTP server received {counter.value} messages"
        f"{f', answering each after {RELAY_DELAY_MS:g} ms' if RELAY_DELAY_MS else ''}; "
        f"{settings.SURVEY_SEND_CONNECTIONS} senders",
    )


def measure(label: str, request: Any, urls: list[str]) -> None:
    for url in urls[:WARMUP]:
        request(url)
    samples = []
    for url in urls[WARMUP : WARMUP + REQUESTS]:
        started = time.perf_counter()
        response = request(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code not in (200, 302):
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
    stats = percentiles(samples)
    note = f"n={len(samples)}, max {stats['max']:.1f} ms"
    emit(BENCH, f"{label} p50", stats["p50"], "ms", note)
    emit(BENCH, f"{label} p95", stats["p95"], "ms", "target under 200 ms")


def main() -> None:
    # One client address sends every request: the link throttle would measure itself.
    os.environ.setdefault("SURVEY_LINK_RATE", "1000000/second")
    setup_django()

    from django.test import Client
    from django.utils import timezone

    from surveys.links import token_for
    from surveys.models import Invitation

    reset_database()
    today = timezone.localdate()
    started = time.perf_counter()
    people = build(today)
    emit(BENCH, "build", time.perf_counter() - started, "s", f"{people} participants (bulk)")
    send_invitations(today)

    invitations = list(Invitation.objects.order_by("pk")[: 2 * (WARMUP + REQUESTS)])
    urls = [f"/q/{token_for(invitation)}/" for invitation in invitations]
    client = Client()
    half = WARMUP + REQUESTS
    measure("page GET", client.get, urls[:half])
    measure(
        "answer POST",
        lambda url: client.post(url, {"item": "mood", "mood": "1", "action": "next"}),
        urls[half:],
    )


if __name__ == "__main__":
    main()
