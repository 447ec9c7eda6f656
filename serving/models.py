"""Adapters attached to projects, the generation requests they answer and the operations on them (merge,
combine, GGUF export).

Moved from the training app by state only: the tables keep their `training_` names (`db_table`), so no row
moved (serving/migrations/0001_initial.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotune.work import WorkRow
from training.models import Method


class Adapter(models.Model):
    """A trained adapter attached to a project: PEFT files in storage, metrics, samples and full lineage."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="adapters")
    job = models.OneToOneField(
        "training.TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="adapter"
    )
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="adapters")
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=10, choices=Method.choices, blank=True)
    storage_path = models.CharField(
        max_length=500, help_text="Storage folder of the PEFT files (adapter_config.json, adapter_model.safetensors)"
    )
    size_bytes = models.BigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    samples = models.JSONField(default=list, blank=True)
    lineage = models.JSONField(
        default=dict, blank=True, help_text="dataset hash, base model, full config, seed, package versions"
    )
    model_card = models.TextField(blank=True)
    # The behavioural evaluation (training.engine.results.BehaviourReport): the project's checks on the answers
    # of base and adapter; {} for adapters without one (combined adapters, jobs before it existed).
    behaviour = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    archived = models.BooleanField(default=False)
    # The project's active adapter answers generate requests that name none (at most one per project).
    is_active = models.BooleanField(default=False)

    class Meta:
        db_table = "training_adapter"
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="adapter_project_id")]
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(is_active=True), name="one_active_adapter_per_project"
            )
        ]

    def __str__(self) -> str:
        return self.name


class GenerationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # Generation requests only: the client went away or gave up; the worker stops between tokens.
    CANCELLED = "cancelled", "Cancelled"


class GenerationRequest(WorkRow):
    """A conversation to answer with the base model and / or adapters, on the inference queue.

    `targets` lists what answers: `{"adapter_id": null}` is the base model alone; `outputs` gets one
    entry per target, in the same order, written by the inference worker.

    A work row (annotune/work.py): claimed (`attempts` counts it, the fencing token of the worker's writes),
    beating while it answers (each piece of text it publishes, and a beat between). Unlike other work rows
    it is never queued again: a request whose worker died or whose message was lost fails
    (serving/services/reaper.py), its caller stopped waiting long ago.
    """

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="generations")
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.CASCADE, related_name="+")
    messages = models.JSONField()
    targets = models.JSONField(default=list)
    params = models.JSONField(default=dict, help_text="max_new_tokens, temperature, top_p, seed")
    # Indexed: the reaper looks for queued / running rows every minute (tests/test_reaper_indexes.py).
    status = models.CharField(
        max_length=20, choices=GenerationStatus.choices, default=GenerationStatus.QUEUED, db_index=True
    )
    outputs = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "training_generationrequest"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Generation {self.pk} ({self.status})"


class OperationKind(models.TextChoices):
    MERGE = "merge", "Merge into the base model"
    COMBINE = "combine", "Combine adapters"
    GGUF = "gguf", "GGUF export for llama.cpp / Ollama"


class AdapterOperation(WorkRow):
    """Background work on adapters (default queue): a merge (result: a model folder), a combination
    (result: a new adapter) or a GGUF export (result: a folder of GGUF files, `params` holds its
    `training.engine.local_runtimes.GGUFExport`). A work row (annotune/work.py): claimed, beating, re-queued
    by the reaper when its worker died, failed with `worker_lost` after the last attempt."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="adapter_operations")
    kind = models.CharField(max_length=10, choices=OperationKind.choices)
    adapter = models.ForeignKey(
        Adapter, null=True, blank=True, on_delete=models.SET_NULL, related_name="merges", help_text="Merged adapter"
    )
    sources = models.JSONField(default=list, blank=True, help_text='Combine: [{"adapter_id", "name", "weight"}]')
    params = models.JSONField(default=dict, blank=True, help_text="Combine: method, name, svd_rank")
    # Indexed: the reaper looks for queued / running rows every minute (tests/test_reaper_indexes.py).
    status = models.CharField(
        max_length=20, choices=GenerationStatus.choices, default=GenerationStatus.QUEUED, db_index=True
    )
    result_adapter = models.ForeignKey(
        Adapter, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Combined adapter"
    )
    storage_path = models.CharField(
        max_length=500, blank=True, help_text="Storage folder of the merged model or the GGUF files"
    )
    size_bytes = models.BigIntegerField(default=0)
    registered_base_model = models.ForeignKey(
        "training.BaseModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error_code = models.CharField(max_length=50, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "training_adapteroperation"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.status})"
