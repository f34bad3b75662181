# The TrialImport model, moved from randomisation (randomisation/0009_trialimport_moved) with its
# table, "randomisation_trialimport", which keeps its name and rows: only the migration state
# changes. Its content type is renamed so that permissions granted on it stay.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def rename_content_type(apps, schema_editor):
    _move_content_type(apps, "randomisation", "trialimport")


def rename_content_type_back(apps, schema_editor):
    _move_content_type(apps, "trialimport", "randomisation")


def _move_content_type(apps, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if ContentType.objects.filter(app_label=new, model="trialimport").exists():
        return  # made by a migrate run since (post_migrate): the old one is stale
    ContentType.objects.filter(app_label=old, model="trialimport").update(app_label=new)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("randomisation", "0009_trialimport_moved"),
        ("trial", "0011_eligibility_ranges"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TrialImport",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("heartbeat_at", models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True)),
                        ("error", models.TextField(blank=True, verbose_name="error")),
                        ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished")),
                        ("file_names", models.JSONField(default=list, verbose_name="files")),
                        ("file_bytes", models.PositiveBigIntegerField(default=0, verbose_name="bytes")),
                        ("status", models.CharField(choices=[("check_queued", "Waiting to be checked"), ("checking", "Being checked"), ("checked", "Checked"), ("import_queued", "Waiting to be imported"), ("importing", "Being imported"), ("done", "Imported"), ("expired", "Not imported; the files were removed"), ("failed", "Failed")], default="check_queued", max_length=20, verbose_name="status")),
                        ("report", models.JSONField(blank=True, default=dict)),
                        ("language", models.CharField(default="en", max_length=10)),
                        ("uploaded_by_name", models.CharField(max_length=150, verbose_name="checked by")),
                        ("uploaded_at", models.DateTimeField(auto_now_add=True, verbose_name="checked")),
                        ("imported_at", models.DateTimeField(blank=True, null=True, verbose_name="imported")),
                        ("imported_by", models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("trial", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="imports", to="trial.trial")),
                        ("uploaded_by", models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "verbose_name": "data import",
                        "verbose_name_plural": "data imports",
                        "ordering": ["-uploaded_at", "-id"],
                        "db_table": "randomisation_trialimport",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_type, rename_content_type_back),
    ]
