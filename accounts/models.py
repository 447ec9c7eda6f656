"""Invitations and API tokens.

Invitation: a one-time link with which a person joins a project with a role, creating their account
or, signed in, with the account they have. Nobody becomes a member of a project without accepting.
Only a hash of the link's token is stored: whoever reads the database cannot use a pending link.

ApiToken: a named key a person's scripts and chat clients use instead of a password. Keys are made and
hashed by djangorestframework-api-key (`<prefix>.<secret>`, sha512 of the whole key stored, the key
shown once); each carries a scope (the full REST API, or inference only: `/v1/`), optionally one
project, an optional expiry, and when it was last used. Revoking is final.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from annotation.models import Role


class Invitation(models.Model):
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    # Who is invited: an e-mail address (they choose a username) or the username they will get.
    email = models.EmailField(blank=True)
    username = models.CharField(max_length=150, blank=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the link's token")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_account = models.BooleanField(
        default=False, help_text="Accepting it created the account (rather than an existing account joining)"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(email="") | ~models.Q(username=""), name="invitation_names_someone"
            ),
        ]
        indexes = [models.Index(fields=["project", "accepted_at", "revoked_at"], name="invitation_pending")]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.project_id} as {self.role}"

    @property
    def invitee(self) -> str:
        return self.email or self.username


class TokenScope(models.TextChoices):
    FULL = "full", "Full API"
    INFERENCE = "inference", "Inference only (/v1/)"


class ApiToken(AbstractAPIKey):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    scope = models.CharField(max_length=20, choices=TokenScope.choices, default=TokenScope.FULL)
    project = models.ForeignKey(
        "annotation.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="When set, the token reaches this project only",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        ordering = ["-created"]
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        indexes = [models.Index(fields=["user", "revoked"], name="api_token_of_user")]

    @property
    def usable(self) -> bool:
        return not self.revoked and not self.has_expired

    @property
    def state(self) -> str:
        """In words, for the account page: active, expired or revoked."""
        if self.revoked:
            return "revoked"
        if self.expiry_date is not None and self.expiry_date <= timezone.now():
            return "expired"
        return "active"
