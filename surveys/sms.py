"""Sending SMS through a pluggable backend (``settings.SMS_BACKEND``), like Django's e-mail
backends: a class with ``send(to, text, reference="")``; ``reference`` names the invitation
towards the gateway (no personal data), which reports bounces and opt-outs back by it
(``POST /api/v1/surveys/bounces/``).

- ``ConsoleBackend`` (the default) logs that a message went out, with its length but neither
  the number nor the text (the text holds the participant's link).
- ``MemoryBackend`` keeps the messages in ``outbox`` (tests).
- ``HttpGatewayBackend`` posts JSON to an HTTP SMS gateway: ``SMS_GATEWAY_URL``, a bearer
  token ``SMS_GATEWAY_TOKEN``, the sender name ``SMS_SENDER``, ``SMS_GATEWAY_TIMEOUT`` seconds.
  The body is ``{"from": sender, "to": number, "text": text, "reference": reference}``; a 2xx
  answer is delivered, a 4xx a refused number (``SmsRefused``, recorded as a bounce, never
  retried), anything else or no answer ``SmsUnavailable`` (retried later).
  docs/participant-questionnaires.md.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The message was not sent."""


class SmsRefused(SmsError):
    """The gateway refused this number or message for good: a bounce."""


class SmsUnavailable(SmsError, OSError):
    """The gateway could not be reached or failed: try again later."""


class SmsBackend(Protocol):
    def send(self, to: str, text: str, reference: str = "") -> None: ...


@dataclass
class SmsMessage:
    to: str
    text: str
    reference: str = ""


class ConsoleBackend:
    def send(self, to: str, text: str, reference: str = "") -> None:
        logger.info("SMS sent (%d characters)", len(text))


class MemoryBackend:
    outbox: list[SmsMessage] = []

    def send(self, to: str, text: str, reference: str = "") -> None:
        MemoryBackend.outbox.append(SmsMessage(to=to, text=text, reference=reference))


class HttpGatewayBackend:
    def send(self, to: str, text: str, reference: str = "") -> None:
        url = settings.SMS_GATEWAY_URL
        if not url.startswith(("http://", "https://")):
            raise SmsUnavailable("SMS_GATEWAY_URL is not set")
        body = json.dumps(
            {"from": settings.SMS_SENDER, "to": to, "text": text, "reference": reference}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {settings.SMS_GATEWAY_TOKEN}",
            },
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 - the scheme is checked above
                request, timeout=settings.SMS_GATEWAY_TIMEOUT
            ) as response:
                response.read()
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500 and error.code != 429:
                raise SmsRefused(f"gateway refused the message: HTTP {error.code}") from None
            raise SmsUnavailable(f"gateway failed: HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise SmsUnavailable(f"gateway unreachable: {type(error).__name__}") from None


def backend() -> SmsBackend:
    cls = import_string(settings.SMS_BACKEND)
    return cls()


def send_sms(to: str, text: str, *, reference: str = "") -> None:
    backend().send(to, text, reference=reference)
