from django.contrib import admin

from .models import Evaluation, Judgment


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "project", "base_model", "status", "created_at", "closed_at"]
    list_filter = ["status"]
    raw_id_fields = ["project", "base_model", "dataset_version", "created_by"]
    readonly_fields = ["attempts", "started_at", "heartbeat_at", "finished_at", "closed_at"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "reviewer", "verdict", "created_at"]
    list_filter = ["verdict"]
    raw_id_fields = ["item", "reviewer", "promoted_example"]
