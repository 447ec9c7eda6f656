from django.contrib import admin

from .models import DatasetVersion, ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "original_name", "status", "rows_imported", "rows_invalid", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["project", "created_by"]
    readonly_fields = ["report", "options"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    """Read-only: a version is immutable once created. Not deletable either: deleting one would leave its
    files behind and free its number for a later version with other content."""

    list_display = ["project", "number", "example_count", "sha256", "created_by", "created_at"]
    raw_id_fields = ["project", "created_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
