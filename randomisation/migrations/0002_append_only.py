"""Make the allocation log tamper-resistant in the database (PostgreSQL).

Allocations, their flags and unblinding records refuse UPDATE and DELETE. A sealed list slot may
change in one way only: from unused to used; its arm, stratum and position never change and it
is never deleted. Tampering through another connection (a superuser disabling the triggers) is
caught by ``verify_allocations``, which recomputes the hash chain and the lists from the seed.
SQLite, the embedded default for trying the system, gets no triggers.
"""

from django.db import migrations

APPEND_ONLY_TABLES = [
    "randomisation_allocation",
    "randomisation_allocationflag",
    "randomisation_unblinding",
]

CREATE = """
CREATE OR REPLACE FUNCTION randomisation_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION randomisation_slot_use_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.used OR NOT NEW.used
       OR NEW.arm_id <> OLD.arm_id OR NEW.stratum <> OLD.stratum
       OR NEW.position <> OLD.position OR NEW.scheme_id <> OLD.scheme_id
       OR NEW.block_number <> OLD.block_number OR NEW.block_size <> OLD.block_size THEN
        RAISE EXCEPTION USING
            MESSAGE = 'sealed list slots can only be marked used: ' || TG_OP || ' refused',
            ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER randomisation_blockslot_use_only
    BEFORE UPDATE OR DELETE ON randomisation_blockslot
    FOR EACH ROW EXECUTE FUNCTION randomisation_slot_use_only();
"""
TABLE_TRIGGER = """
CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION randomisation_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS randomisation_blockslot_use_only ON randomisation_blockslot;
DROP FUNCTION IF EXISTS randomisation_slot_use_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE)
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(TABLE_TRIGGER.format(table=table))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in APPEND_ONLY_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS randomisation_append_only();")
    schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("randomisation", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
