"""Fewer indexes to keep up on every insert of an example (an import writes 100,000 at a time).

- example.project: every (project, ...) index leads with it already;
- example.content_hash (and PostgreSQL's varchar_pattern_ops twin, never used: hashes are compared whole)
  becomes (project, content_hash): duplicates are looked up per project;
- example.claimed_by: only claimed rows are indexed (the others are NULL and never looked up by it);
- revision.example: the (example, version) unique constraint leads with it.

The single-column indexes are dropped by name (before the new ones exist): on SQLite, altering the fields
would copy the table once per field.
"""

import copy

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LEFT = (("example", "project"), ("example", "content_hash"), ("example", "claimed_by"), ("revision", "example"))


def drop_single_column_indexes(apps, schema_editor):
    for model_name, field_name in LEFT:
        model = apps.get_model("annotation", model_name)
        column = model._meta.get_field(field_name).column
        for name in schema_editor._constraint_names(model, [column], index=True, unique=False, primary_key=False):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def create_single_column_indexes(apps, schema_editor):
    for model_name, field_name in LEFT:
        model = apps.get_model("annotation", model_name)
        field = copy.copy(model._meta.get_field(field_name))
        field.db_index = True
        for statement in schema_editor._field_indexes_sql(model, field):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0007_validation_run_heartbeat"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_single_column_indexes, create_single_column_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="example",
                    name="claimed_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="example",
                    name="content_hash",
                    field=models.CharField(max_length=64),
                ),
                migrations.AlterField(
                    model_name="example",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="examples",
                        to="annotation.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="revision",
                    name="example",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="revisions",
                        to="annotation.example",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="example",
            index=models.Index(fields=["project", "content_hash"], name="example_project_hash"),
        ),
        migrations.AddIndex(
            model_name="example",
            index=models.Index(
                condition=models.Q(("claimed_by__isnull", False)), fields=["claimed_by"], name="example_claimed_by"
            ),
        ),
    ]
