"""One mail connection for a run of participant messages (``surveys.delivery.send_due``)."""

from __future__ import annotations

import logging
import smtplib

from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

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
