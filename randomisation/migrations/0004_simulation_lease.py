from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("randomisation", "0003_factorcount"),
    ]

    operations = [
        migrations.AddField(
            model_name="simulationrun",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="simulationrun",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
