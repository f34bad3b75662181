"""A large register file is checked and imported by a real Celery worker on Redis."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from pathways import importing
from pathways.models import Spell, SpellImport
from pathways.tasks import apply_spell_import, check_spell_import
from tests.conftest import World
from tests.pathways.helpers import csv_bytes, make_scene
from tests.workers import worker_for

BASE = "/trials/ips/pathways/"


def wait_for(pk: int, statuses: set[str]) -> SpellImport:
    deadline = time.monotonic() + 60
    while (spell_import := SpellImport.objects.get(pk=pk)).status not in statuses:
        assert time.monotonic() < deadline, f"the worker did not finish ({spell_import.status})"
        time.sleep(0.1)
    return spell_import


@pytest.mark.django_db(transaction=True)
def test_a_large_file_is_checked_and_imported_by_a_real_worker(
    require_redis: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = make_scene(world)
    # Every file counts as large here, so the pages hand the work to the worker.
    monkeypatch.setattr(importing, "INLINE_BYTES", 0)
    rows = [
        [scene.a.study_id, "aap", f"2025-{m:02d}-01", f"2025-{m:02d}-20", "", ""]
        for m in range(3, 13)
    ]
    rows.append([scene.b.study_id, "holiday", "2025-04-01", "", "", ""])
    data = csv_bytes(rows)
    client = world.client("datamanager")
    with worker_for(monkeypatch, check_spell_import, apply_spell_import):
        response = client.post(
            BASE + "import/",
            {"file": SimpleUploadedFile("big.csv", data), "source": "FD-Trygd"},
        )
        assert response.status_code == 302
        pk = SpellImport.objects.latest("pk").pk
        checked = wait_for(pk, {"checked", "failed"})
        assert checked.status == "checked", checked.error
        assert (checked.rows_valid, checked.rows_invalid, checked.done) == (10, 1, 100)
        # The worker deletes the encrypted upload just after it marks the check done.
        deadline = time.monotonic() + 30
        while importing.upload_path(pk).exists():
            assert time.monotonic() < deadline, "the checked upload was not deleted"
            time.sleep(0.1)
        client.post(BASE + f"imports/{pk}/confirm/", {"skip_invalid": "on"})
        done = wait_for(pk, {"done", "failed"})
    assert done.status == "done", done.error
    assert done.rows_written == 10
    assert Spell.objects.filter(participant=scene.a).count() == 10
    assert (
        "Imported: 10 rows accepted, 1 rejected"
        in client.get(BASE + f"imports/{pk}/").content.decode()
    )
