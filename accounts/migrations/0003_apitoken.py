"""Named API tokens (accounts.ApiToken), and the plain-text tokens of before moved into them, hashed.

Each old token (DRF's authtoken table, 40 hex characters) becomes a full-access token named
"API token (before named tokens)" whose prefix is the key's first 8 characters: the same key keeps
working (annotune/authentication.py looks such keys up by that prefix). The old table is emptied so
that no plain-text key stays in the database.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from rest_framework_api_key.crypto import KeyGenerator

OLD_TABLE = "authtoken_token"
LEGACY_NAME = "API token (before named tokens)"


def hash_plain_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    hasher = KeyGenerator()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {OLD_TABLE}")  # noqa: S608 (a constant table name)
        rows = cursor.fetchall()
    for key, user_id in rows:
        prefix = key[:8]
        if ApiToken.objects.filter(prefix=prefix).exists():
            continue  # the same first 8 characters as another token (1 in 4 billion): this one must be remade
        hashed = hasher.hash(key)
        ApiToken.objects.create(
            id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed, name=LEGACY_NAME, scope="full", user_id=user_id
        )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {OLD_TABLE}")  # noqa: S608 (a constant table name)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_invitation_created_account"),
        ("annotation", "0010_project_style_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.CharField(editable=False, max_length=150, primary_key=True, serialize=False, unique=True),
                ),
                ("prefix", models.CharField(editable=False, max_length=8, unique=True)),
                ("hashed_key", models.CharField(editable=False, max_length=150)),
                ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "name",
                    models.CharField(
                        default=None,
                        help_text="A free-form name for the API key. Need not be unique. 50 characters max.",
                        max_length=50,
                    ),
                ),
                (
                    "revoked",
                    models.BooleanField(
                        blank=True,
                        default=False,
                        help_text="If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)",
                    ),
                ),
                (
                    "expiry_date",
                    models.DateTimeField(
                        blank=True,
                        help_text="Once API key expires, clients cannot use it anymore.",
                        null=True,
                        verbose_name="Expires",
                    ),
                ),
                (
                    "scope",
                    models.CharField(
                        choices=[("full", "Full API"), ("inference", "Inference only (/v1/)")],
                        default="full",
                        max_length=20,
                    ),
                ),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "project",
                    models.ForeignKey(
                        blank=True,
                        help_text="When set, the token reaches this project only",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to="annotation.project",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "verbose_name_plural": "API tokens",
                "ordering": ["-created"],
                "abstract": False,
                "indexes": [models.Index(fields=["user", "revoked"], name="api_token_of_user")],
            },
        ),
        migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop),
    ]
