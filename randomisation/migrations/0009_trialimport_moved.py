# The trial import moved to an app of its own (trialimport/0001_initial). Its table stays as it
# is: the model leaves this app's state only; trialimport's first migration takes it over.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("randomisation", "0008_chain_anchor_append_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="TrialImport")],
            database_operations=[],
        ),
    ]
