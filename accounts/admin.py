from django.contrib import admin
from rest_framework_api_key.models import APIKey

from .models import ApiToken, Invitation

# The library's own key model is unused (the project's tokens are ApiToken): keep it out of the admin.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see and revoke tokens; keys are created by their owners (shown once) or create_api_token."""

    list_display = ["name", "user", "prefix", "scope", "project", "created", "last_used_at", "expiry_date", "revoked"]
    list_filter = ["scope", "revoked"]
    search_fields = ["name", "prefix", "user__username"]
    raw_id_fields = ["user", "project"]
    readonly_fields = ["prefix", "created", "last_used_at", "revoked_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["invitee", "project", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["email", "username"]
    raw_id_fields = ["project", "invited_by", "accepted_by"]
    readonly_fields = ["token_hash", "created_at", "accepted_at", "accepted_by"]
