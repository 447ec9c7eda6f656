from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0002_jobs_and_adapters"),
    ]

    operations = [
        migrations.RemoveField(model_name="trainingjob", name="dataset_path"),
        migrations.AddField(
            model_name="trainingjob",
            name="train_path",
            field=models.CharField(default="", help_text="Storage path of the training JSONL", max_length=500),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="trainingjob",
            name="validation_path",
            field=models.CharField(blank=True, help_text="Storage path of the validation JSONL", max_length=500),
        ),
        migrations.AddField(
            model_name="trainingjob",
            name="child_pid",
            field=models.PositiveIntegerField(blank=True, help_text="Process running the engine", null=True),
        ),
    ]
