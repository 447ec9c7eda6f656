# Generation requests become work rows (annotune/work.py): `attempts` counts their claims.

from django.db import migrations, models


def count_past_claims(apps, schema_editor):
    """A request that was started was claimed once (requests are never queued again)."""
    requests = apps.get_model("serving", "GenerationRequest").objects
    requests.filter(started_at__isnull=False).update(attempts=1)


class Migration(migrations.Migration):
    dependencies = [
        ("serving", "0002_method_dpo"),
    ]

    operations = [
        migrations.AddField(
            model_name="generationrequest",
            name="attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_past_claims, migrations.RunPython.noop),
    ]
