"""Base models; training jobs and adapters come with the training backend."""

from __future__ import annotations

from django.db import models


class BaseModel(models.Model):
    """A model adapters are trained on: an HF hub id or a local folder, loaded offline where configured."""

    name = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=500, help_text="HF hub id or local path")
    architecture = models.CharField(max_length=100, blank=True)
    parameter_count = models.BigIntegerField(null=True, blank=True)
    has_chat_template = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
