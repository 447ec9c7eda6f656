from django.contrib import admin

from .models import Example, ExampleDraft, Membership, PreferencePair, Project, Revision, Transition


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "base_model", "reviews_required", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "category", "author", "version", "updated_at"]
    list_filter = ["status"]
    raw_id_fields = ["project", "author", "claimed_by"]
    readonly_fields = ["content_hash", "version"]
    show_full_result_count = False  # no COUNT(*) over a million rows


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ["example", "version", "author", "created_at"]
    raw_id_fields = ["example", "author"]


@admin.register(Transition)
class TransitionAdmin(admin.ModelAdmin):
    list_display = ["example", "from_status", "to_status", "actor", "reason", "created_at"]
    raw_id_fields = ["example", "actor"]


@admin.register(ExampleDraft)
class ExampleDraftAdmin(admin.ModelAdmin):
    list_display = ["example", "turn_index", "adapter_name", "requested_by", "created_at"]
    raw_id_fields = ["example", "adapter", "generation", "requested_by"]
    readonly_fields = ["text", "prompt", "params"]  # the worker's answer, as kept: evidence for preference pairs


@admin.register(PreferencePair)
class PreferencePairAdmin(admin.ModelAdmin):
    list_display = ["example", "turn_index", "adapter_name", "corrected_by", "approved_by", "approved_at"]
    raw_id_fields = ["project", "example", "draft", "adapter", "corrected_by", "approved_by"]
    readonly_fields = ["prompt", "chosen", "rejected", "edit_distance"]  # written by the approval, never by hand
