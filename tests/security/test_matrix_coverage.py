"""The authorisation matrix covers every URL of the project (tests/security/routes.py)."""

from __future__ import annotations

import re

from tests.security.matrix import project_urls
from tests.security.routes import KINDS, ROUTES


def test_every_url_is_in_the_matrix() -> None:
    urls = project_urls()
    table = {route.name: route for route in ROUTES}
    assert len(table) == len(ROUTES), "a route is in the table twice"
    assert not [name for name in urls if name.endswith(":None") or name == "None"], (
        "every URL pattern needs a name to be in the matrix"
    )
    missing = sorted(set(urls) - set(table))
    assert not missing, f"add these URLs to tests/security/routes.py: {missing}"
    stale = sorted(set(table) - set(urls))
    assert not stale, f"these rows name no URL: {stale}"
    for name, route in table.items():
        arguments = set(re.findall(r"<(?:\w+:)?(\w+)>", urls[name]))
        expected = set(route.fill) | ({"code"} if route.audience == "trial" else set())
        assert arguments == expected, (name, arguments, expected)
        assert all(kind in KINDS for kind in route.fill.values()), name
