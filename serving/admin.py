from django.contrib import admin

from .models import Adapter


@admin.register(Adapter)
class AdapterAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "project", "base_model", "size_bytes", "archived", "created_at"]
    list_filter = ["archived"]
    raw_id_fields = ["project", "job", "base_model", "created_by"]
