# Blind evaluations become work rows (annotune/work.py): their running status is "running" (labelled
# "Generating answers"), `attempts` counts their claims, `generated_at` is the work row's `finished_at`.

from django.db import migrations, models


def to_work_row(apps, schema_editor):
    evaluations = apps.get_model("evaluation", "Evaluation").objects
    evaluations.filter(status="generating").update(status="running")
    # One claim each for the evaluations a worker took (they were never queued again).
    evaluations.exclude(status="queued").update(attempts=1)


def from_work_row(apps, schema_editor):
    apps.get_model("evaluation", "Evaluation").objects.filter(status="running").update(status="generating")


class Migration(migrations.Migration):
    dependencies = [
        ("evaluation", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(
            model_name="evaluation",
            old_name="generated_at",
            new_name="finished_at",
        ),
        migrations.AddField(
            model_name="evaluation",
            name="attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="evaluation",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="evaluation",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Generating answers"),
                    ("open", "Open for judging"),
                    ("closed", "Closed"),
                    ("failed", "Failed"),
                ],
                db_index=True,
                default="queued",
                max_length=20,
            ),
        ),
        migrations.RunPython(to_work_row, from_work_row),
    ]
