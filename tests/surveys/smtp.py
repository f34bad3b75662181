"""A local SMTP server (aiosmtpd) that keeps what it is sent, for the tests that let Django's
SMTP e-mail backend deliver participants' invitations for real, and the backend that counts
the connections a run opens. Not a test module."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from django.core.mail.backends.smtp import EmailBackend


class Inbox:
    """The aiosmtpd handler: every message accepted, parsed, kept in ``messages``."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a captured message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(settings: Any) -> Iterator[Inbox]:
    """Run an SMTP server on a free local port while the block runs and point Django's SMTP
    e-mail backend at it (``settings`` is pytest-django's fixture, or anything with those
    attributes)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = controller.hostname
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield inbox
    finally:
        controller.stop()


class CountingBackend(EmailBackend):
    """Django's SMTP backend, counting the connections it opens; with ``drop_before`` set,
    the server's connection is cut just before that message (counted from 1) goes out."""

    opened = 0
    sent = 0
    drop_before: int | None = None

    def open(self) -> bool | None:
        new = super().open()
        if new:
            CountingBackend.opened += 1
        return new

    def _send(self, email_message: Any) -> bool:
        CountingBackend.sent += 1
        if CountingBackend.sent == CountingBackend.drop_before:
            assert self.connection is not None and self.connection.sock is not None
            self.connection.sock.shutdown(socket.SHUT_RDWR)
        return bool(super()._send(email_message))  # type: ignore[misc]  # not in the stubs
