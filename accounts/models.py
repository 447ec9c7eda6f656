"""Invitations: a one-time link with which a person joins a project with a role, creating their account
or, signed in, with the account they have. Nobody becomes a member of a project without accepting.

Only a hash of the link's token is stored: whoever reads the database cannot use a pending link.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

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
