"""Mixed traffic for the load test (run by bench/loadtest.py; see bench/README.md, "load").

Caseworkers log contacts through the API (a fresh client id each, and now and then the same
submission again, as a client that lost the answer would); coordinators look at the dashboards
and randomise participants through the API (an idempotency key each); statisticians download a
report. A request whose connection fails before an answer (status 0: a reset of a kept-alive
connection the server had just closed) is sent again, with the same client id or key, up to
three times, as a careful client does. Every final answer is appended to ``LOAD_RECORD`` (JSON
lines: what, key, status, connection resets) so that the runner can check afterwards that each
accepted write is in the database exactly once.

The run's facts (trial code, tokens, session cookies, study ids, report id) come from the JSON
file named by ``LOAD_CONFIG``, which bench/loadtest.py writes.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

from locust import HttpUser, between, task

CONFIG: dict[str, Any] = json.loads(open(os.environ["LOAD_CONFIG"]).read())  # noqa: SIM115
RECORD = open(os.environ["LOAD_RECORD"], "a", buffering=1)  # noqa: SIM115
CODE = CONFIG["trial"]
TO_RANDOMISE: list[str] = list(CONFIG["to_randomise"])
random.shuffle(TO_RANDOMISE)
TRIES = 3


def send(
    user: HttpUser,
    method: str,
    url: str,
    *,
    name: str,
    what: str,
    key: str,
    expected: tuple[int, ...],
    **options: Any,
) -> None:
    """Send a request, again while no answer comes; record the final answer. ``expected``
    are the statuses that count as success (a resend after a lost answer may also get 200)."""
    resets, errors = 0, []
    for _attempt in range(TRIES):
        with user.client.request(
            method, url, name=name, catch_response=True, **options
        ) as response:
            if response.status_code:
                status = response.status_code
                allowed = (*expected, 200) if resets and what != "read" else expected
                if status not in allowed:
                    response.failure(f"{status}: {response.text[:200]}")
                elif name == "GET report ZIP" and not response.content.startswith(b"PK"):
                    response.failure("not the ZIP file")
                break
            resets += 1
            errors.append(repr(response.error)[:200])
            response.failure("no answer (connection lost); sent again")
    else:
        status = 0
    line = {"what": what, "key": key, "status": status, "resets": resets}
    if status == 0:
        line["errors"] = errors
    RECORD.write(json.dumps(line) + "\n")


def get(user: HttpUser, url: str, name: str) -> None:
    send(user, "GET", url, name=name, what="read", key=name, expected=(200,))


class Caseworker(HttpUser):
    weight = 4
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        me = random.choice(CONFIG["caseworkers"])  # noqa: S311
        self.client.headers["Authorization"] = f"Token {me['token']}"
        self.people: list[str] = me["participants"]
        self.last: dict[str, Any] | None = None

    @task(10)
    def log_contact(self) -> None:
        body = {
            "client_id": str(uuid.uuid4()),
            "study_id": random.choice(self.people),  # noqa: S311
            "contact_on": CONFIG["today"],
            "mode": random.choice(["in_person", "phone", "video"]),  # noqa: S311
            "minutes": random.randint(5, 90),  # noqa: S311
            "partners": ["participant"],
            "components": random.sample(CONFIG["components"], k=1),
            "note": "",
        }
        self._post(body, "POST contact", (201,))
        self.last = body

    @task(1)
    def resubmit_contact(self) -> None:
        """The same submission again: must answer 200 with the first contact."""
        if self.last is not None:
            self._post(self.last, "POST contact (resent)", (200,))

    @task(3)
    def list_contacts(self) -> None:
        get(self, f"/api/v1/trials/{CODE}/contacts/", "GET contacts (API)")

    def _post(self, body: dict[str, Any], name: str, expected: tuple[int, ...]) -> None:
        url = f"/api/v1/trials/{CODE}/contacts/"
        key = body["client_id"]
        send(self, "POST", url, name=name, what="contact", key=key, expected=expected, json=body)


class Coordinator(HttpUser):
    weight = 2
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", CONFIG["coordinator_session"])
        self.client.headers["Authorization"] = f"Token {CONFIG['coordinator_token']}"

    @task(4)
    def dashboard(self) -> None:
        get(self, f"/trials/{CODE}/", "GET dashboard")

    @task(2)
    def participants(self) -> None:
        get(self, f"/trials/{CODE}/participants/", "GET participants")

    @task(2)
    def dose(self) -> None:
        get(self, f"/trials/{CODE}/dashboards/dose/", "GET dose dashboard")

    @task(1)
    def contamination(self) -> None:
        get(self, f"/trials/{CODE}/dashboards/contamination/", "GET contamination dashboard")

    @task(3)
    def randomise(self) -> None:
        if not TO_RANDOMISE:
            return
        study_id = TO_RANDOMISE.pop()
        key = f"load-{study_id}"
        url = f"/api/v1/trials/{CODE}/participants/{study_id}/randomisation/"
        for name, expected in (("POST randomise", 201), ("POST randomise (resent)", 200)):
            send(
                self,
                "POST",
                url,
                name=name,
                what="randomisation",
                key=key,
                expected=(expected,),
                json={},
                headers={"Idempotency-Key": key},
            )
            if random.random() > 0.2:  # noqa: S311 - one in five is sent again
                break


class Statistician(HttpUser):
    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", CONFIG["statistician_session"])

    @task
    def download(self) -> None:
        url = f"/trials/{CODE}/reports/{CONFIG['report']}/download/zip/"
        get(self, url, "GET report ZIP")
