"""Annotune: curate prompt-response data, validate it, train LoRA adapters from it."""

from .celery import app as celery_app

__all__ = ["celery_app"]
