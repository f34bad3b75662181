"""The old fixed-column assessment is gone: its rows live on in the generic store
(``instruments/0002`` copied them, with the same ids, into ``instruments.Assessment``)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("trial", "0009_visit_contamination_reported"),
        ("instruments", "0002_employment_from_assessments"),
    ]

    operations = [
        migrations.DeleteModel(
            name="Assessment",
        ),
    ]
