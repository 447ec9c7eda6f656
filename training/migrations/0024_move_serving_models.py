"""The serving models leave training's state for the serving app (serving/migrations/0001_initial.py), and a
job's parent adapter points at `serving.Adapter`.

State only: the tables keep their names (the models name them with `db_table`) and their rows; the parent
adapter's column and its foreign key constraint stay as they are (same table, same column).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("serving", "0001_initial"),
        ("training", "0023_job_phase"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="adapteroperation",
                    name="result_adapter",
                ),
                migrations.AlterField(
                    model_name="trainingjob",
                    name="parent_adapter",
                    field=models.ForeignKey(
                        blank=True,
                        help_text="Continue training: the adapter whose weights the job starts from",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="continued_by",
                        to="serving.adapter",
                    ),
                ),
                migrations.RemoveField(
                    model_name="adapteroperation",
                    name="adapter",
                ),
                migrations.RemoveField(
                    model_name="adapteroperation",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="adapteroperation",
                    name="project",
                ),
                migrations.RemoveField(
                    model_name="adapteroperation",
                    name="registered_base_model",
                ),
                migrations.RemoveField(
                    model_name="generationrequest",
                    name="base_model",
                ),
                migrations.RemoveField(
                    model_name="generationrequest",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="generationrequest",
                    name="project",
                ),
                migrations.DeleteModel(
                    name="Adapter",
                ),
                migrations.DeleteModel(
                    name="AdapterOperation",
                ),
                migrations.DeleteModel(
                    name="GenerationRequest",
                ),
            ],
            database_operations=[],
        ),
    ]
