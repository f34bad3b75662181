"""The authorisation matrix for the process-evaluation pages: contacts, contamination,
fidelity reviews and dashboards, job strain and pathways (see ``test_matrix_pages.py``).

See ``tests/security/matrix.py`` for what is asked and ``routes.py`` for the table.
"""

from __future__ import annotations

import pytest

from tests.security.conftest import MatrixWorld
from tests.security.matrix import check_route
from tests.security.routes import PROCESS_PAGES, ROUTES, Route

# The world is built once for this module (tests/security/conftest.py).
pytestmark = pytest.mark.django_db

PAGES = [r for r in ROUTES if not r.is_api and r.name.startswith(PROCESS_PAGES)]


@pytest.mark.parametrize("route", PAGES, ids=[r.name for r in PAGES])
def test_page(matrix_world: MatrixWorld, route: Route) -> None:
    checks, problems = check_route(matrix_world, route)
    assert checks > 0
    assert not problems, "\n".join(problems[:40])
