"""Chain anchors are append-only like the allocations they vouch for (PostgreSQL; the trigger
function comes from 0002_append_only). SQLite, the embedded default, gets no trigger."""

from django.db import migrations

TABLE = "randomisation_chainanchor"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION randomisation_append_only();"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};")


class Migration(migrations.Migration):
    dependencies = [("randomisation", "0007_allocation_mac_and_anchors")]
    operations = [migrations.RunPython(forwards, backwards)]
