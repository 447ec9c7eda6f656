from django.contrib import admin

from .models import Invitation


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["invitee", "project", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["email", "username"]
    raw_id_fields = ["project", "invited_by", "accepted_by"]
    readonly_fields = ["token_hash", "created_at", "accepted_at", "accepted_by"]
