from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0022_move_evaluation_models"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingjob",
            name="phase",
            field=models.CharField(
                blank=True,
                choices=[("", "Placed"), ("estimating", "Estimating its memory")],
                default="",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="trainingjob",
            name="method_fixed",
            field=models.BooleanField(
                default=True,
                help_text="False: the launch plan picks the method for the device class it places the job on",
            ),
        ),
        migrations.AlterField(
            model_name="trainingjob",
            name="dataset_version",
            field=models.ForeignKey(
                blank=True,
                help_text="The version trained on (empty only on jobs from before every launch read a version)",
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="training_jobs",
                to="datasets.datasetversion",
            ),
        ),
    ]
