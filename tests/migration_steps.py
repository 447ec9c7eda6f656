"""Migration tests: take the database back to a migration, write rows through that state's historical models,
then migrate forward and read them through today's models."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets) -> None:
    """Migrate to `targets` ([(app, migration name or None)]); content types are read afresh after."""
    MigrationExecutor(connection).migrate(targets)
    ContentType.objects.clear_cache()


def latest() -> list[tuple[str, str]]:
    """Every app's last migration: what `migrate(latest())` brings the database forward to."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def historical_apps():
    """The historical models of the migrations applied now: what a database made at that point holds. Apps
    whose migrations all come later are left out with them."""
    loader = MigrationExecutor(connection).loader
    return loader.project_state(sorted(loader.applied_migrations), at_end=True).apps
