"""How a run of participant messages goes out: one mail connection per sender (``Mailer``), and
several senders at once (``run_senders``) for questionnaire invitations and consent links."""

from __future__ import annotations

import logging
import queue
import smtplib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, connections

Summary = TypeVar("Summary")

logger = logging.getLogger(__name__)


class Mailer:
    """One mail connection for a run of messages (``get_connection()``), opened when the first
    message goes out and closed at the end (a ``with`` block). After a connection error the
    connection is dropped, and the next message opens a new one: the failed message itself
    counts a failed attempt (its state says so) and goes out on the next run, as it did when
    every message had its own connection, since a connection lost while the server was taking
    the message cannot tell whether it arrived."""

    def __init__(self) -> None:
        self.connection: BaseEmailBackend | None = None
        self.opened = 0

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: EmailMultiAlternatives) -> None:
        if self.connection is None:
            connection = get_connection()
            connection.open()
            self.connection = connection
            self.opened += 1
        try:
            self.connection.send_messages([message])
        except smtplib.SMTPRecipientsRefused:
            raise  # the server refused this address and reset the session: still usable
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.close()
            except OSError:
                logger.info("Mail connection closed uncleanly")


def run_senders(
    pks: Sequence[int],
    batch_size: int,
    send_batch: Callable[[list[int], Mailer, Summary], None],
    new_summary: Callable[[], Summary],
) -> list[Summary]:
    """Send the rows ``pks`` through ``SURVEY_SEND_CONNECTIONS`` senders at once: threads taking
    batches of ``batch_size`` from one queue, each with a database connection, a mail
    connection and a summary of its own, which are returned for the caller to add up.

    A mail relay or SMS gateway answers each message after a round trip, and one sender would
    spend most of a run waiting. ``send_batch`` must send each message under its row's lock, so
    that senders (and two runs at once) never send one twice. Called inside a transaction, or on
    SQLite (one writer at a time), there is one sender, on the caller's connection: other
    connections would not see the caller's uncommitted rows."""
    waiting: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
    for start in range(0, len(pks), batch_size):
        waiting.put(list(pks[start : start + batch_size]))
    count = min(settings.SURVEY_SEND_CONNECTIONS, waiting.qsize())
    summaries = [new_summary() for _ in range(max(count, 1))]

    def sender(summary: Summary) -> None:
        with Mailer() as mailer:
            while True:
                try:
                    batch = waiting.get_nowait()
                except queue.Empty:
                    return
                send_batch(batch, mailer, summary)

    if count <= 1 or connection.vendor == "sqlite" or connection.in_atomic_block:
        sender(summaries[0])
        return summaries

    def in_a_thread(summary: Summary) -> None:
        try:
            sender(summary)
        finally:
            connections.close_all()  # the thread's own database connection

    with ThreadPoolExecutor(count, thread_name_prefix="participant-sender") as pool:
        for running in [pool.submit(in_a_thread, summary) for summary in summaries]:
            running.result()  # an unexpected error in a sender is raised here
    return summaries
