"""The HTTP SMS gateway adapter against a small HTTP server on the loopback address."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from surveys import sms


class Gateway(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 202

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        Gateway.received.append({"body": body, "auth": self.headers.get("Authorization")})
        self.send_response(Gateway.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def gateway(settings: Any) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    Gateway.received = []
    Gateway.status = 202
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/messages"
    settings.SMS_BACKEND = "surveys.sms.HttpGatewayBackend"
    settings.SMS_GATEWAY_URL = url
    settings.SMS_GATEWAY_TOKEN = "test-token"  # noqa: S105 - a test value
    settings.SMS_SENDER = "Studien"
    settings.SMS_GATEWAY_TIMEOUT = 5
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_gateway_receives_sender_number_text_and_reference(gateway: str) -> None:
    sms.send_sms("+4741234567", "Hei", reference="inv-1-0123456789abcdef0123")
    assert Gateway.received == [
        {
            "body": {
                "from": "Studien",
                "to": "+4741234567",
                "text": "Hei",
                "reference": "inv-1-0123456789abcdef0123",
            },
            "auth": "Bearer test-token",
        }
    ]


def test_a_refused_number_is_a_bounce(gateway: str) -> None:
    Gateway.status = 400
    with pytest.raises(sms.SmsRefused):
        sms.send_sms("+4700000000", "Hei")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_failing_gateway_is_retried_later(gateway: str, status: int) -> None:
    Gateway.status = status
    with pytest.raises(sms.SmsUnavailable):
        sms.send_sms("+4741234567", "Hei")


def test_an_unreachable_gateway_is_retried_later(gateway: str, settings: Any) -> None:
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    settings.SMS_GATEWAY_URL = f"http://127.0.0.1:{port}/messages"
    with pytest.raises(sms.SmsUnavailable):
        sms.send_sms("+4741234567", "Hei")
