"""Issue 12 items 5 and 6: MFA secrets encrypted at rest and hidden in the admin; staff cannot
enrol a second factor with only their password."""

import io
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, hotp_value
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from audit.actions import Action
from audit.models import AuditEvent
from identity import secrets
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def code_for(secret):
    return format(hotp_value(secret, int(time.time()) // 30), "06d")


# ---- item 5 ------------------------------------------------------------------------------------
def test_totp_secret_and_recovery_seed_are_stored_encrypted_and_still_work():
    person = UserFactory()
    secret = generate_totp_secret()
    totp = TOTP.activate(person, secret)
    codes = RecoveryCodes.activate(person)
    stored = {a.type: a.data for a in Authenticator.objects.filter(user=person)}
    assert stored["totp"]["secret"].startswith("mfa:") and secret not in str(stored)
    assert stored["recovery_codes"]["seed"].startswith("mfa:")
    assert totp.validate_code(code_for(secret))
    assert codes.validate_code(codes.get_unused_codes()[0])


def test_a_plaintext_secret_planted_in_the_database_is_not_accepted():
    person = UserFactory()
    planted = generate_totp_secret()
    Authenticator.objects.create(user=person, type="totp", data={"secret": planted})
    totp = TOTP(Authenticator.objects.get(user=person))
    with pytest.raises(secrets.SecretError):
        totp.validate_code(code_for(planted))


def test_the_data_migration_encrypts_existing_rows():
    person = UserFactory()
    old_secret = generate_totp_secret()
    Authenticator.objects.create(user=person, type="totp", data={"secret": old_secret})
    Authenticator.objects.create(
        user=person, type="recovery_codes", data={"seed": "ab" * 40, "used_mask": 0}
    )
    executor = MigrationExecutor(connection)
    migration = executor.loader.get_migration("identity", "0003_encrypt_mfa_secrets")
    from django.apps import apps as global_apps

    migration.operations[0].code(global_apps, None)
    rows = {a.type: a for a in Authenticator.objects.filter(user=person)}
    assert rows["totp"].data["secret"].startswith("mfa:")
    assert TOTP(rows["totp"]).validate_code(code_for(old_secret))
    assert secrets.decrypt(rows["recovery_codes"].data["seed"]) == "ab" * 40
    assert rows["recovery_codes"].data["used_mask"] == 0
    # Running again changes nothing (already encrypted).
    before = rows["totp"].data
    migration.operations[0].code(global_apps, None)
    assert Authenticator.objects.get(pk=rows["totp"].pk).data == before


def test_the_admin_neither_shows_nor_edits_the_secret(staff_client, staff_user):
    authenticator = Authenticator.objects.get(user=staff_user, type="totp")
    stored = authenticator.data["secret"]
    plain = secrets.decrypt(stored)
    url = reverse("admin:mfa_authenticator_change", args=[authenticator.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert plain not in body and stored not in body and 'name="data"' not in body
    staff_client.post(url, {"user": staff_user.pk, "type": "totp", "data": '{"secret": "X"}'})
    assert Authenticator.objects.get(pk=authenticator.pk).data["secret"] == stored


# ---- item 6 ------------------------------------------------------------------------------------
def test_staff_cannot_enrol_totp_with_only_their_password(client, password):
    staff = UserFactory(is_staff=True)
    client.post(reverse("account_login"), {"login": staff.email, "password": password})
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 403
    response = client.post(reverse("mfa_activate_totp"), {"code": "123456"})
    assert response.status_code == 403
    assert not Authenticator.objects.filter(user=staff).exists()
    assert client.get("/admin/")["Location"] == reverse("identity:staff-mfa-required")


def test_people_still_enrol_themselves(client, password):
    person = UserFactory()
    client.post(reverse("account_login"), {"login": person.email, "password": password})
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_an_operator_provisions_staff_mfa_by_command(client, password):
    staff = UserFactory(is_staff=True, is_superuser=True)
    out = io.StringIO()
    call_command("staff_mfa_provision", staff.email, stdout=out)
    key = out.getvalue().split("key: ")[1].split()[0]
    assert Authenticator.objects.get(user=staff, type="totp").data["secret"] != key
    assert AuditEvent.objects.filter(action=Action.MFA_ENABLED, subject_user=staff).exists()
    assert key not in str(list(AuditEvent.objects.values()))
    # The staff member signs in with the hand-over key and reaches the admin.
    client.post(reverse("account_login"), {"login": staff.email, "password": password})
    client.post(reverse("mfa_authenticate"), {"code": code_for(key)})
    assert client.get("/admin/").status_code == 200
    # Not twice without --replace; not for people who are not staff.
    with pytest.raises(CommandError, match="replace"):
        call_command("staff_mfa_provision", staff.email, stdout=io.StringIO())
    with pytest.raises(CommandError, match="not staff"):
        call_command("staff_mfa_provision", UserFactory().email, stdout=io.StringIO())


def test_key_rotation_reencrypts_mfa_secrets(settings):
    from cryptography.fernet import Fernet

    person = UserFactory()
    secret = generate_totp_secret()
    TOTP.activate(person, secret)
    new_key = Fernet.generate_key().decode()
    settings.VAULT_KEYS = (new_key, *settings.VAULT_KEYS)
    call_command("vault_reencrypt", stdout=io.StringIO())
    stored = Authenticator.objects.get(user=person).data["secret"]
    assert stored.startswith(f"mfa:{secrets.key_id(new_key)}:")
    settings.VAULT_KEYS = (new_key,)  # the old key can go
    assert TOTP(Authenticator.objects.get(user=person)).validate_code(code_for(secret))
