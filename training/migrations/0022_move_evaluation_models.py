"""The evaluation models leave training"s state for the evaluation app (evaluation/migrations/0001_initial.py).

State only: the tables keep their names (the models name them with `db_table`) and their rows.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0021_samples_current_keys"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="evaluationprompt",
                    name="evaluation",
                ),
                migrations.RemoveField(
                    model_name="evaluationitem",
                    name="evaluation",
                ),
                migrations.RemoveField(
                    model_name="evaluationanswer",
                    name="prompt",
                ),
                migrations.RemoveField(
                    model_name="evaluationitem",
                    name="second",
                ),
                migrations.RemoveField(
                    model_name="evaluationitem",
                    name="first",
                ),
                migrations.RemoveField(
                    model_name="evaluationitem",
                    name="prompt",
                ),
                migrations.RemoveField(
                    model_name="judgment",
                    name="item",
                ),
                migrations.RemoveField(
                    model_name="examplescore",
                    name="author",
                ),
                migrations.RemoveField(
                    model_name="examplescore",
                    name="example",
                ),
                migrations.RemoveField(
                    model_name="examplescore",
                    name="job",
                ),
                migrations.RemoveField(
                    model_name="judgment",
                    name="promoted_example",
                ),
                migrations.RemoveField(
                    model_name="judgment",
                    name="reviewer",
                ),
                migrations.DeleteModel(
                    name="Evaluation",
                ),
                migrations.DeleteModel(
                    name="EvaluationAnswer",
                ),
                migrations.DeleteModel(
                    name="EvaluationPrompt",
                ),
                migrations.DeleteModel(
                    name="EvaluationItem",
                ),
                migrations.DeleteModel(
                    name="ExampleScore",
                ),
                migrations.DeleteModel(
                    name="Judgment",
                ),
            ],
            database_operations=[],
        ),
    ]
