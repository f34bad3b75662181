"""The page listing who downloaded which report file, and when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from reports.models import ReportRequest
from tests.conftest import World

PAGE = "/trials/ips/report-downloads/"


def test_downloads_are_listed_for_coordinators_and_monitors(
    world: World, settings: Any, tmp_path: Path
) -> None:
    settings.FILES_ROOT = tmp_path
    folder = tmp_path / "reports" / "ips"
    folder.mkdir(parents=True)
    (folder / "ips-data-7.zip").write_bytes(b"PK")
    report = ReportRequest.objects.create(
        trial=world.trial,
        kind="data",
        cut_off=dt.date(2025, 6, 1),
        seed=1,
        blinded=False,
        status=ReportRequest.Status.DONE,
        zip_file="ips-data-7.zip",
        requested_by_name="statistician",
    )
    assert world.client("monitor").get(PAGE).content.decode().count("<tr>") == 0
    url = f"/trials/ips/reports/{report.pk}/download/zip/"
    assert world.client("unblinded").get(url).status_code == 200
    assert world.client("coordinator").get(url).status_code == 200

    for persona in ("monitor", "coordinator", "datamanager"):
        page = world.client(persona).get(PAGE)
        assert page.status_code == 200, persona
        html = page.content.decode()
        rows = html.split("<tbody>")[1].split("</tbody>")[0]
        assert rows.count("<tr>") == 2
        assert rows.index("coordinator") < rows.index("unblinded")  # newest first
        assert "ips-data-7.zip" in rows and "2025-06-01" in rows and f"#{report.pk}" in rows
    # In the menu's Reports group, shown in its second row on the page itself.
    assert (
        f'href="{PAGE}" aria-current="page"' in world.client("monitor").get(PAGE).content.decode()
    )
    for persona, status in (("caseworker", 403), ("statistician", 403), ("outsider", 404)):
        assert world.client(persona).get(PAGE).status_code == status, persona
