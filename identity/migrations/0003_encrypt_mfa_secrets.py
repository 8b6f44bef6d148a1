"""Issue 12 item 5: encrypt the TOTP secrets and recovery seeds stored before (plaintext)."""

from django.db import migrations


def encrypt_existing(apps, schema_editor):
    from identity.secrets import encrypt_authenticator_data

    Authenticator = apps.get_model("mfa", "Authenticator")
    for row in Authenticator.objects.filter(type__in=["totp", "recovery_codes"]).iterator():
        data = encrypt_authenticator_data(row.type, row.data or {})
        if data != row.data:
            Authenticator.objects.filter(pk=row.pk).update(data=data)


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0002_person_settings"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]
    operations = [migrations.RunPython(encrypt_existing, migrations.RunPython.noop)]
