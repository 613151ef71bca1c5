"""Commit-order positions for the event log; every existing row is committed, so its id serves."""
from django.db import migrations, models


def backfill(apps, schema_editor):
    apps.get_model("events", "Event").objects.filter(position__isnull=True).update(position=models.F("id"))


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0002_integration_system"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="position",
            field=models.BigIntegerField(editable=False, null=True, unique=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
