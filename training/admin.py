from django.contrib import admin

from .models import BaseModel, TrainingJob, TrainingWorker


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "architecture", "parameter_count", "has_chat_template"]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "base_model", "method", "status", "step", "max_steps", "attempts", "created_at"]
    list_filter = ["status", "method"]
    raw_id_fields = ["project", "base_model", "created_by"]
    readonly_fields = ["heartbeat_at", "attempts", "dataset_sha256"]


@admin.register(TrainingWorker)
class TrainingWorkerAdmin(admin.ModelAdmin):
    """Delete a retired worker here: launches check jobs against every advertised worker."""

    list_display = ["name", "device_type", "devices", "memory_mb", "heartbeat_at", "stopped_at"]
    list_filter = ["device_type"]
    readonly_fields = ["started_at", "heartbeat_at", "stopped_at"]
