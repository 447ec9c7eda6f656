"""The serving models, moved from the training app by state only: their tables keep their names
(`training_adapter`, `training_generationrequest`, `training_adapteroperation`), so nothing is created and no
row moves.

Their content types move with them (app label training -> serving), so permissions granted on them and the
admin's history of their rows stay attached. Training jobs and adapters point at each other (an adapter's
job, a job's parent adapter): this app creates the models first, after training 0023, and training 0024
points `TrainingJob.parent_adapter` at `serving.Adapter` and removes the models from training's state.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("adapter", "generationrequest", "adapteroperation")


def relabel(apps, old: str, new: str) -> None:
    """The moved models' content types from app label `old` to `new`, keeping their ids (permissions and admin
    log entries point at them). A row already under `new` for the same model (created by a `migrate` run
    while these models were under `old`) is a fresh duplicate: it gives way to the original."""
    content_types = apps.get_model("contenttypes", "ContentType")
    moving = set(content_types.objects.filter(app_label=old, model__in=MODELS).values_list("model", flat=True))
    content_types.objects.filter(app_label=new, model__in=moving).delete()
    content_types.objects.filter(app_label=old, model__in=moving).update(app_label=new)


def to_serving(apps, schema_editor) -> None:
    relabel(apps, "training", "serving")


def to_training(apps, schema_editor) -> None:
    relabel(apps, "serving", "training")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("annotation", "0010_project_style_rules"),
        ("training", "0023_job_phase"),
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
                    name="Adapter",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        (
                            "method",
                            models.CharField(
                                blank=True,
                                choices=[("qlora", "QLoRA (4-bit base)"), ("lora", "LoRA"), ("dora", "DoRA")],
                                max_length=10,
                            ),
                        ),
                        (
                            "storage_path",
                            models.CharField(
                                help_text="Storage folder of the PEFT files (adapter_config.json, adapter_model.safetensors)",
                                max_length=500,
                            ),
                        ),
                        ("size_bytes", models.BigIntegerField(default=0)),
                        ("metrics", models.JSONField(blank=True, default=dict)),
                        ("samples", models.JSONField(blank=True, default=list)),
                        (
                            "lineage",
                            models.JSONField(
                                blank=True,
                                default=dict,
                                help_text="dataset hash, base model, full config, seed, package versions",
                            ),
                        ),
                        ("model_card", models.TextField(blank=True)),
                        ("behaviour", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("archived", models.BooleanField(default=False)),
                        ("is_active", models.BooleanField(default=False)),
                        (
                            "base_model",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="adapters",
                                to="training.basemodel",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "job",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="adapter",
                                to="training.trainingjob",
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="adapters",
                                to="annotation.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_adapter",
                        "ordering": ["-id"],
                    },
                ),
                migrations.CreateModel(
                    name="AdapterOperation",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("error", models.TextField(blank=True)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("merge", "Merge into the base model"),
                                    ("combine", "Combine adapters"),
                                    ("gguf", "GGUF export for llama.cpp / Ollama"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "sources",
                            models.JSONField(
                                blank=True, default=list, help_text='Combine: [{"adapter_id", "name", "weight"}]'
                            ),
                        ),
                        (
                            "params",
                            models.JSONField(blank=True, default=dict, help_text="Combine: method, name, svd_rank"),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed"),
                                    ("cancelled", "Cancelled"),
                                ],
                                db_index=True,
                                default="queued",
                                max_length=20,
                            ),
                        ),
                        (
                            "storage_path",
                            models.CharField(
                                blank=True,
                                help_text="Storage folder of the merged model or the GGUF files",
                                max_length=500,
                            ),
                        ),
                        ("size_bytes", models.BigIntegerField(default=0)),
                        ("error_code", models.CharField(blank=True, max_length=50)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "adapter",
                            models.ForeignKey(
                                blank=True,
                                help_text="Merged adapter",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="merges",
                                to="serving.adapter",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="adapter_operations",
                                to="annotation.project",
                            ),
                        ),
                        (
                            "registered_base_model",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="training.basemodel",
                            ),
                        ),
                        (
                            "result_adapter",
                            models.ForeignKey(
                                blank=True,
                                help_text="Combined adapter",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="serving.adapter",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_adapteroperation",
                        "ordering": ["-id"],
                    },
                ),
                migrations.CreateModel(
                    name="GenerationRequest",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("messages", models.JSONField()),
                        ("targets", models.JSONField(default=list)),
                        (
                            "params",
                            models.JSONField(default=dict, help_text="max_new_tokens, temperature, top_p, seed"),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed"),
                                    ("cancelled", "Cancelled"),
                                ],
                                db_index=True,
                                default="queued",
                                max_length=20,
                            ),
                        ),
                        ("outputs", models.JSONField(blank=True, default=list)),
                        ("error_code", models.CharField(blank=True, max_length=50)),
                        ("error", models.TextField(blank=True)),
                        ("worker", models.CharField(blank=True, max_length=200)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "base_model",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="training.basemodel"
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="generations",
                                to="annotation.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_generationrequest",
                        "ordering": ["-id"],
                    },
                ),
                migrations.AddIndex(
                    model_name="adapter",
                    index=models.Index(fields=["project", "-id"], name="adapter_project_id"),
                ),
                migrations.AddConstraint(
                    model_name="adapter",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("is_active", True)),
                        fields=("project",),
                        name="one_active_adapter_per_project",
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(to_serving, to_training),
    ]
