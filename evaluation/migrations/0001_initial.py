"""The evaluation models, moved from the training app by state only: their tables keep their names
(`training_evaluation`, `training_judgment`, ...), so nothing is created and no row moves.

Their content types move with them (app label training -> evaluation), so permissions granted on them and
the admin"s history of their rows stay attached. training/migrations/0020 removes them from training"s
state first; this app depends on training, never the reverse.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("evaluation", "evaluationprompt", "evaluationanswer", "evaluationitem", "judgment", "examplescore")


def relabel(apps, old: str, new: str) -> None:
    """The moved models" content types from app label `old` to `new`, keeping their ids (permissions and admin
    log entries point at them). A row already under `new` for the same model (created by a `migrate` run
    while these models were under `old`) is a fresh duplicate: it gives way to the original."""
    content_types = apps.get_model("contenttypes", "ContentType")
    moving = set(content_types.objects.filter(app_label=old, model__in=MODELS).values_list("model", flat=True))
    content_types.objects.filter(app_label=new, model__in=moving).delete()
    content_types.objects.filter(app_label=old, model__in=moving).update(app_label=new)


def to_evaluation(apps, schema_editor) -> None:
    relabel(apps, "training", "evaluation")


def to_training(apps, schema_editor) -> None:
    relabel(apps, "evaluation", "training")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("annotation", "0010_project_style_rules"),
        ("datasets", "0003_version_build"),
        ("training", "0022_move_evaluation_models"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        # The duplicate content type a relabel deletes takes its permissions along and leaves its admin log
        # entries without one: both models must be in the state this runs in.
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="EvaluationAnswer",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "system",
                            models.CharField(
                                help_text="Key of the system in the evaluation's `systems`", max_length=20
                            ),
                        ),
                        ("text", models.TextField()),
                        ("new_tokens", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "training_evaluationanswer",
                    },
                ),
                migrations.CreateModel(
                    name="Evaluation",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        ("prompt_source", models.CharField(help_text="validation | train | pasted", max_length=20)),
                        ("systems", models.JSONField(default=list)),
                        ("params", models.JSONField(default=dict, help_text="Decoding: greedy, max_new_tokens")),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("generating", "Generating answers"),
                                    ("open", "Open for judging"),
                                    ("closed", "Closed"),
                                    ("failed", "Failed"),
                                ],
                                db_index=True,
                                default="queued",
                                max_length=20,
                            ),
                        ),
                        ("error_code", models.CharField(blank=True, max_length=50)),
                        ("error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        ("generated_at", models.DateTimeField(blank=True, null=True)),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "base_model",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="training.basemodel"
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "dataset_version",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="evaluations",
                                to="datasets.datasetversion",
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="evaluations",
                                to="annotation.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_evaluation",
                        "ordering": ["-id"],
                    },
                ),
                migrations.CreateModel(
                    name="EvaluationPrompt",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("position", models.PositiveIntegerField()),
                        ("messages", models.JSONField(help_text="The conversation to answer, ending with a user turn")),
                        ("category", models.CharField(blank=True, max_length=100)),
                        (
                            "evaluation",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="prompts",
                                to="evaluation.evaluation",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_evaluationprompt",
                        "ordering": ["evaluation_id", "position"],
                    },
                ),
                migrations.CreateModel(
                    name="EvaluationItem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "evaluation",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="items",
                                to="evaluation.evaluation",
                            ),
                        ),
                        (
                            "first",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="evaluation.evaluationanswer",
                            ),
                        ),
                        (
                            "second",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="evaluation.evaluationanswer",
                            ),
                        ),
                        (
                            "prompt",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="items",
                                to="evaluation.evaluationprompt",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_evaluationitem",
                        "ordering": ["evaluation_id", "id"],
                    },
                ),
                migrations.AddField(
                    model_name="evaluationanswer",
                    name="prompt",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="answers",
                        to="evaluation.evaluationprompt",
                    ),
                ),
                migrations.CreateModel(
                    name="ExampleScore",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "split",
                            models.CharField(help_text="Where the engine used it: train | validation", max_length=20),
                        ),
                        ("adapter_loss", models.FloatField(blank=True, null=True)),
                        ("base_loss", models.FloatField(blank=True, null=True)),
                        ("loss_drop", models.FloatField(blank=True, help_text="base_loss − adapter_loss", null=True)),
                        ("tokens", models.PositiveIntegerField(default=0, help_text="Assistant tokens scored")),
                        (
                            "truncated_tokens",
                            models.PositiveIntegerField(default=0, help_text="Tokens cut by max_seq_length"),
                        ),
                        ("category", models.CharField(blank=True, max_length=100)),
                        ("check_warnings", models.PositiveSmallIntegerField(default=0)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "author",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "example",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="training_scores",
                                to="annotation.example",
                            ),
                        ),
                        (
                            "job",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="example_scores",
                                to="training.trainingjob",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_examplescore",
                        "ordering": ["job_id", "-adapter_loss"],
                    },
                ),
                migrations.CreateModel(
                    name="Judgment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "verdict",
                            models.CharField(
                                choices=[
                                    ("1", "Answer 1 is better"),
                                    ("2", "Answer 2 is better"),
                                    ("t", "Tie"),
                                    ("b", "Both bad"),
                                ],
                                max_length=1,
                            ),
                        ),
                        ("comment", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "item",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="judgments",
                                to="evaluation.evaluationitem",
                            ),
                        ),
                        (
                            "promoted_example",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="annotation.example",
                            ),
                        ),
                        (
                            "reviewer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_judgment",
                        "ordering": ["item_id", "id"],
                    },
                ),
                migrations.AddConstraint(
                    model_name="evaluationprompt",
                    constraint=models.UniqueConstraint(
                        fields=("evaluation", "position"), name="one_prompt_per_position"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="evaluationanswer",
                    constraint=models.UniqueConstraint(
                        fields=("prompt", "system"), name="one_answer_per_prompt_system"
                    ),
                ),
                migrations.AddIndex(
                    model_name="examplescore",
                    index=models.Index(fields=["job", "-adapter_loss"], name="examplescore_job_loss"),
                ),
                migrations.AddConstraint(
                    model_name="examplescore",
                    constraint=models.UniqueConstraint(fields=("job", "example"), name="one_score_per_job_example"),
                ),
                migrations.AddConstraint(
                    model_name="judgment",
                    constraint=models.UniqueConstraint(
                        fields=("item", "reviewer"), name="one_judgment_per_item_reviewer"
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(to_evaluation, to_training),
    ]
