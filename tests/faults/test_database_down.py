"""PostgreSQL unreachable under a running application: pages answer 503 with Retry-After and a
page that needs no database, in the reader's language, as the API does; everything works again
once the database is back.

The application runs under gunicorn with its database behind a TCP relay of the test's own
(``DatabaseProxy``), which the test cuts: the port refuses connections and open connections
drop, as when the database server is down or restarting.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.faults.conftest import DatabaseProxy, Gunicorn, Ready, session_cookie


@pytest.fixture
def proxy(require_postgres: None) -> Iterator[DatabaseProxy]:
    relay = DatabaseProxy()
    try:
        yield relay
    finally:
        relay.cut()


@pytest.fixture
def server(proxy: DatabaseProxy) -> Iterator[str]:
    app = Gunicorn(DATABASE_URL=proxy.database_url)
    try:
        yield app.url
    finally:
        app.stop()


def pages(ready: Ready) -> list[str]:
    study_id = ready.randomised[0].study_id
    return [
        "/",
        "/trials/ips/",
        "/trials/ips/participants/",
        "/trials/ips/participants/?q=x",
        f"/trials/ips/participants/{study_id}/",
        "/trials/ips/reports/",
        "/trials/ips/contacts/",
        "/accounts/two-factor/",
    ]


@pytest.mark.django_db(transaction=True)
def test_pages_answer_503_with_retry_after_while_the_database_is_down(
    ready: Ready, proxy: DatabaseProxy, server: str
) -> None:
    browser = requests.Session()
    browser.cookies.set("sessionid", session_cookie(ready.world.users["coordinator"]))
    api = requests.Session()
    api.headers["Authorization"] = f"Token {ready.tokens['coordinator']}"
    for page in pages(ready):
        assert browser.get(server + page, timeout=30).status_code == 200, page

    proxy.cut()

    for page in pages(ready):
        response = browser.get(server + page, allow_redirects=False, timeout=30)
        assert response.status_code == 503, (page, response.status_code)
        assert response.headers["Retry-After"] == "5"
        assert response.headers["Content-Type"].startswith("text/html")
        assert "Temporarily unavailable" in response.text
        assert 'lang="en"' in response.text
    norwegian = browser.get(
        server + "/trials/ips/participants/", headers={"Accept-Language": "nb"}, timeout=30
    )
    assert norwegian.status_code == 503 and norwegian.headers["Retry-After"] == "5"
    assert "Midlertidig utilgjengelig" in norwegian.text and 'lang="nb"' in norwegian.text
    # A form sent while the database is down: the same answer, nothing half done.
    posted = browser.post(server + "/trials/ips/enrol/", data={}, timeout=30)
    assert posted.status_code == 503 and posted.headers["Retry-After"] == "5"
    # The API, with a token or with the browser's session: its own 503 body.
    for client in (api, browser):
        answer = client.get(server + "/api/v1/trials/ips/participants/", timeout=30)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert answer.json()["code"] == "service_unavailable"

    proxy.restore()

    for page in pages(ready):
        assert browser.get(server + page, timeout=30).status_code == 200, page
    assert api.get(server + "/api/v1/trials/ips/participants/", timeout=30).status_code == 200
