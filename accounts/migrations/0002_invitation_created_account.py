from django.db import migrations, models


def invitations_before_this_created_accounts(apps, schema_editor):
    """Until now accepting an invitation always created the account."""
    Invitation = apps.get_model("accounts", "Invitation")
    Invitation.objects.filter(accepted_by__isnull=False).update(created_account=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="created_account",
            field=models.BooleanField(
                default=False, help_text="Accepting it created the account (rather than an existing account joining)"
            ),
        ),
        migrations.RunPython(invitations_before_this_created_accounts, migrations.RunPython.noop),
    ]
