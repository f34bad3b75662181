"""The TrialImport model moves from randomisation to trialimport (``randomisation/0009``,
``trialimport/0001``) without moving data: the table keeps its name and rows, the content type
(and so the permissions on it) follows. Migrated back, written with the historical model, then
forward, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps.registry import Apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests import factories
from trialimport.models import TrialImport

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("randomisation", "0008_chain_anchor_append_only"), ("trialimport", None)]


def migrate(targets: list[tuple[str, str | None]] | None = None) -> Apps:
    """Migrate to ``targets`` (the latest state when None); the models as they were there."""
    executor = MigrationExecutor(connection)
    nodes = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(nodes)
    # The state of the migrations applied now (an unapplied app has no node to name).
    applied = [node for node in nodes if node[1] is not None]
    return MigrationExecutor(connection).loader.project_state(applied).apps  # type: ignore[arg-type]


@pytest.fixture
def at_latest() -> Iterator[None]:
    """Whatever happens in the test, the database ends at the latest state."""
    yield
    migrate()


@pytest.mark.usefixtures("at_latest")
def test_the_import_model_moves_apps_with_its_rows_and_content_type() -> None:
    trial = factories.make_trial(code="moved")
    user = factories.make_user("mover")
    ContentType.objects.filter(app_label="trialimport").delete()
    ContentType.objects.get_or_create(app_label="randomisation", model="trialimport")

    old_apps = migrate(BEFORE)
    OldImport = old_apps.get_model("randomisation", "TrialImport")  # type: ignore[misc]  # gone since
    assert OldImport._meta.db_table == "randomisation_trialimport"
    old = OldImport.objects.create(
        trial_id=trial.pk,
        file_names=["participants.csv"],
        file_bytes=120,
        status="checked",
        report={"ok": True, "created": 2},
        language="nb",
        uploaded_by_id=user.pk,
        uploaded_by_name="mover",
    )
    old_type = ContentType.objects.get(app_label="randomisation", model="trialimport")

    new_apps = migrate()

    NewImport = new_apps.get_model("trialimport", "TrialImport")
    moved = NewImport.objects.get(pk=old.pk)
    assert (moved.trial_id, moved.file_names, moved.status, moved.report, moved.language) == (
        trial.pk,
        ["participants.csv"],
        "checked",
        {"ok": True, "created": 2},
        "nb",
    )
    assert moved.uploaded_at == old.uploaded_at and moved.uploaded_by_id == user.pk
    # The same row through today's model; the content type is the old one, renamed.
    assert TrialImport.objects.get(pk=old.pk).importable
    ContentType.objects.clear_cache()
    assert ContentType.objects.get_for_model(TrialImport).pk == old_type.pk
    assert not ContentType.objects.filter(app_label="randomisation", model="trialimport").exists()
