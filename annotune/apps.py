"""The project package as an app: after `migrate`, the database cache table used for throttling exists."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_cache_tables(using: str = "default", **kwargs) -> None:
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


class AnnotuneConfig(AppConfig):
    name = "annotune"
    label = "annotune"
    verbose_name = "Annotune"

    def ready(self) -> None:
        from . import schema  # noqa: F401 (registers the token scheme with drf-spectacular)

        post_migrate.connect(_create_cache_tables, sender=self, dispatch_uid="annotune-createcachetable")
