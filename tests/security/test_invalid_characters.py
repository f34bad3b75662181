"""Characters the database cannot store, in the address, a query parameter or a form field:
400 with a readable message on every page and API route, never a server error.

Every GET route of the authorisation matrix (``tests/security/routes.py``) is asked, as the
coordinator, with a NUL in each query parameter any view or API filter of the project reads
(found in the source and in the API schema); routes naming a participant also with a NUL in
the study id. The answers must be 400: the API's error body naming the parameter, or a page
naming it, in the reader's language.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from fidelity.dashboards.forms import PeriodForm
from tests.security.conftest import MatrixWorld
from tests.security.matrix import INSIDE, answer, send, url_for
from tests.security.routes import ROUTES, Route
from trial.text import unstorable_character

# The world is built once for this module (tests/security/conftest.py).
pytestmark = pytest.mark.django_db

GET_ROUTES = [r for r in ROUTES if "GET" in r.methods]
APPS = ("accounts", "config", "fidelity", "occupations", "pathways", "randomisation", "reports")
NUL = "NUL (U+0000)"
READS = re.compile(r"""(?:GET|query_params)(?:\.get|\.getlist)?\(\s*["'](\w+)["']""")


def parameter_names() -> list[str]:
    """Every query parameter a view reads (``request.GET``/``query_params`` in the source),
    the fields of the page filter forms, and the API's documented query parameters."""
    names = {"q"}
    for app in (*APPS, "trial"):
        for path in Path(settings.BASE_DIR, app).rglob("*.py"):
            names |= set(READS.findall(path.read_text(encoding="utf-8")))
    names |= set(PeriodForm.base_fields)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for item in schema["paths"].values():
        for operation in item.values():
            names |= {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    return sorted(names)


@pytest.fixture(scope="module")
def names() -> list[str]:
    found = parameter_names()
    # The filters named in the issue, and the API's: the scan did find them.
    assert {"q", "site", "status", "action", "actor", "target", "kind", "source"} <= set(found)
    assert {"page", "measure", "cut_off", "start", "end"} <= set(found)
    return found


def test_every_get_route_answers_400_for_a_nul_in_any_query_parameter(
    matrix_world: MatrixWorld, names: list[str]
) -> None:
    client, cookies = matrix_world.client("coordinator"), matrix_world.cookies["coordinator"]
    problems: list[str] = []
    requests = 0
    for route in GET_ROUTES:
        url = url_for(matrix_world, route, INSIDE)
        assert url is not None
        for name in names:
            got = send(client, cookies, "GET", f"{url}?{name}=%00", route.is_api)
            requests += 1
            if not readable_400(got, route, name):
                problems.append(f"GET {url}?{name}=%00: {got.status} {str(got.body)[:200]}")
        # The parameter's name may carry it as well.
        got = send(client, cookies, "GET", f"{url}?site%00=1", route.is_api)
        requests += 1
        if got.status != 400:
            problems.append(f"GET {url}?site%00=1: {got.status}")
    assert requests > 1000
    assert not problems, "\n".join(problems[:40])


def readable_400(got: Any, route: Route, name: str) -> bool:
    if got.status != 400:
        return False
    if route.is_api:
        body = got.body
        return (
            isinstance(body, dict)
            and body.get("code") == "invalid"
            and body["errors"]
            == {name: ["Contains a character that is not allowed: NUL (U+0000)."]}
            and body["detail"].startswith(f"{name}: ")
        )
    return got.content_type.startswith("text/html") and f"“{name}” contains a character" in got.body


def test_a_nul_in_the_address_answers_400(matrix_world: MatrixWorld) -> None:
    client, cookies = matrix_world.client("coordinator"), matrix_world.cookies["coordinator"]
    named = [r for r in GET_ROUTES if "participant" in r.fill.values()]
    assert len(named) >= 4
    for route in named:
        kwargs: dict[str, Any] = {"code": "ips"}
        kwargs |= {arg: "P\x00" for arg, kind in route.fill.items() if kind == "participant"}
        url = reverse(route.name, kwargs=kwargs)
        got = send(client, cookies, "GET", url, route.is_api)
        assert got.status == 400, (url, got.status)
        if route.is_api:
            assert got.body["errors"] == {
                "non_field_errors": [
                    "The address contains a character that is not allowed: NUL (U+0000)."
                ]
            }
        else:
            assert "The address contains a character that is not allowed" in got.body


def test_a_nul_in_a_form_field_answers_a_readable_400_in_both_languages(
    matrix_world: MatrixWorld,
) -> None:
    client, cookies = matrix_world.client("coordinator"), matrix_world.cookies["coordinator"]
    url = reverse("trial:enrol", kwargs={"code": "ips"})
    client.cookies.load(cookies)
    response = client.post(url, {"study_id": "A\x00B", "site": "OSLA"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "“study_id” contains a character that is not allowed: NUL (U+0000)." in page
    assert 'lang="en"' in page
    response = client.post(url, {"site": "\x00"}, headers={"accept-language": "nb"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "«site» inneholder et tegn som ikke er tillatt: NUL (U+0000)." in page
    assert 'lang="nb"' in page


def test_the_api_names_the_parameter_in_norwegian_too(matrix_world: MatrixWorld) -> None:
    client = Client(headers={"accept-language": "nb"})
    client.cookies.load(matrix_world.cookies["coordinator"])
    got = answer(client.get("/api/v1/trials/ips/participants/?site=%00"))
    assert got.status == 400
    assert got.body["errors"] == {"site": ["Inneholder et tegn som ikke er tillatt: NUL (U+0000)."]}


def test_unstorable_characters_are_nul_and_unpaired_surrogates() -> None:
    assert unstorable_character("fine – ærlig 😀") is None
    assert unstorable_character("a\x00b") == "NUL (U+0000)"
    assert unstorable_character("a\ud800") == "U+D800"
    assert unstorable_character("\udfff") == "U+DFFF"
