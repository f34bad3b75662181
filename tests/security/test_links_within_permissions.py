"""A page offers no link its reader would be refused (the accessibility crawl in
tests/browser/test_accessibility.py follows every link of every role and found these)."""

from __future__ import annotations

import pytest

from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("persona", "offered"), [("coordinator", True), ("monitor", False)])
def test_the_contamination_dashboard_links_to_the_exposures_only_for_who_may_open_them(
    world: World, persona: str, offered: bool
) -> None:
    client = world.client(persona)
    page = client.get("/trials/ips/dashboards/contamination/")
    assert page.status_code == 200
    link = '<a href="/trials/ips/contamination/">Record or review exposures</a>'
    assert (link in page.content.decode()) is offered
    assert client.get("/trials/ips/contamination/").status_code == (200 if offered else 403)


@pytest.mark.parametrize(("persona", "offered"), [("coordinator", True), ("datamanager", True)])
def test_the_instrument_list_links_to_the_dictionary_import_only_for_who_may_import(
    world: World, persona: str, offered: bool
) -> None:
    client = world.client(persona)
    page = client.get("/trials/ips/instruments/")
    assert page.status_code == 200
    link = 'href="/trials/ips/dictionary/import/">Import a data dictionary</a>'
    assert (link in page.content.decode()) is offered
    assert client.get("/trials/ips/dictionary/import/").status_code == (200 if offered else 403)
