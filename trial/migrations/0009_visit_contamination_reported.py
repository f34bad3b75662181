"""The contamination question is asked once per visit, not per instrument: its answer moves
from the old assessment row to the visit (``Visit.contamination_reported``).

Ordered before ``instruments/0002`` (which copies the old assessments into the generic store)
and ``trial/0010`` (which deletes the old table).
"""

from django.db import migrations, models

BATCH = 2000


def copy_to_visits(apps, schema_editor):
    Assessment = apps.get_model("trial", "Assessment")
    Visit = apps.get_model("trial", "Visit")
    for answer in (True, False):
        visit_ids = list(
            Assessment.objects.filter(contamination_reported=answer).values_list(
                "visit_id", flat=True
            )
        )
        for start in range(0, len(visit_ids), BATCH):
            Visit.objects.filter(pk__in=visit_ids[start : start + BATCH]).update(
                contamination_reported=answer
            )


def copy_to_assessments(apps, schema_editor):
    """The reverse: each old assessment takes its visit's answer again."""
    Assessment = apps.get_model("trial", "Assessment")
    Visit = apps.get_model("trial", "Visit")
    for answer in (True, False):
        visit_ids = list(
            Visit.objects.filter(contamination_reported=answer).values_list("pk", flat=True)
        )
        for start in range(0, len(visit_ids), BATCH):
            Assessment.objects.filter(visit_id__in=visit_ids[start : start + BATCH]).update(
                contamination_reported=answer
            )


class Migration(migrations.Migration):
    dependencies = [
        ("trial", "0008_trial_analysis_unblinded_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="visit",
            name="contamination_reported",
            field=models.BooleanField(
                blank=True,
                help_text="Empty when the trial asks no such question or it was not answered.",
                null=True,
                verbose_name="answered yes to the contamination question",
            ),
        ),
        migrations.RunPython(copy_to_visits, copy_to_assessments),
    ]
