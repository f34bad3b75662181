"""Make the audit trail append-only in the database (PostgreSQL).

A trigger rejects UPDATE and DELETE on trial_auditevent, so not even a bug or a hand-written
SQL statement through the application's connection can rewrite history. SQLite (the embedded
default for trying the system) gets no trigger: Django's test flush there deletes rows.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION trial_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit events are append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trial_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON trial_auditevent
    FOR EACH ROW EXECUTE FUNCTION trial_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS trial_auditevent_no_update_delete ON trial_auditevent;
DROP FUNCTION IF EXISTS trial_auditevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("trial", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
