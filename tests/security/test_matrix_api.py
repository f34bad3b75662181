"""The authorisation matrix for the API (``/api/v1/``).

See ``tests/security/matrix.py`` for what is asked and ``routes.py`` for the table.
"""

from __future__ import annotations

import pytest

from tests.security.conftest import MatrixWorld
from tests.security.matrix import INSIDE, WRITE_METHODS, check_route, send, url_for
from tests.security.routes import ROUTES, Route

# The world is built once for this module (tests/security/conftest.py).
pytestmark = pytest.mark.django_db

API = [route for route in ROUTES if route.is_api]
API_SIGNED_IN = [route for route in API if route.audience != "public"]


@pytest.mark.parametrize("route", API, ids=[r.name for r in API])
def test_endpoint(matrix_world: MatrixWorld, route: Route) -> None:
    checks, problems = check_route(matrix_world, route)
    assert checks > 0
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("route", API_SIGNED_IN, ids=[r.name for r in API_SIGNED_IN])
def test_api_refuses_methods_it_does_not_offer(matrix_world: MatrixWorld, route: Route) -> None:
    """A method missing from the table answers 405, so no unlisted write slips in."""
    url = url_for(matrix_world, route, INSIDE)
    assert url is not None
    client, cookies = matrix_world.client("coordinator"), matrix_world.cookies["coordinator"]
    for method in WRITE_METHODS:
        if method not in route.methods:
            assert send(client, cookies, method, url, api=True).status == 405, method
