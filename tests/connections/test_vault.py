"""Tokens at rest: ciphertext only, rotation by vault_reencrypt, nothing in the admin."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db

from connections import vault
from connections.models import Connection
from tests.factories import ConnectionFactory, UserFactory

pytestmark = pytest.mark.django_db


def raw_rows():
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM connections_connection")
        return [" ".join(str(v) for v in row) for row in cursor.fetchall()]


def _store(conn):
    conn.token_key_id = vault.current_key_id()
    conn.save()
    return conn


def test_raw_rows_hold_no_plaintext_token():
    conns = [
        _store(
            ConnectionFactory(
                access_token=f"gho_plain_{i}_secret", refresh_token=f"ghr_plain_{i}_secret"
            )
        )
        for i in range(3)
    ]
    dump = "\n".join(raw_rows())
    for c in conns:
        assert c.access_token not in dump and c.refresh_token not in dump
    assert "plain" not in dump
    assert Connection.objects.get(pk=conns[0].pk).access_token == "gho_plain_0_secret"


def test_lookups_on_tokens_are_refused():
    with pytest.raises(NotImplementedError):
        list(Connection.objects.filter(access_token="x"))
    with pytest.raises(NotImplementedError):
        list(Connection.objects.filter(refresh_token__startswith="ghr_"))


def test_key_rotation_reencrypts_and_old_key_can_go(settings):
    old_key = settings.VAULT_KEYS[0]
    conns = [
        _store(ConnectionFactory(access_token=f"access-{i}", refresh_token=f"refresh-{i}"))
        for i in range(5)
    ]
    new_key = Fernet.generate_key().decode()
    settings.VAULT_KEYS = (new_key, old_key)
    out = StringIO()
    call_command("vault_reencrypt", "--dry-run", stdout=out)
    assert "5 connection(s) to re-encrypt" in out.getvalue()
    out = StringIO()
    call_command("vault_reencrypt", "--batch-size", "2", stdout=out)
    assert "Re-encrypted 5 connection(s)" in out.getvalue()
    assert set(Connection.objects.values_list("token_key_id", flat=True)) == {vault.key_id(new_key)}
    assert all(row.count(vault.key_id(new_key) + ":") == 2 for row in raw_rows())
    # Resumable / idempotent: a second run finds nothing to do.
    out = StringIO()
    call_command("vault_reencrypt", stdout=out)
    assert (
        "Re-encrypted 0 connection(s)" in out.getvalue()
        and "5 were already current" in out.getvalue()
    )
    settings.VAULT_KEYS = (new_key,)
    assert sorted(Connection.objects.values_list("pk", flat=True)) == sorted(c.pk for c in conns)
    for c in conns:
        row = Connection.objects.get(pk=c.pk)
        assert (row.access_token, row.refresh_token) == (c.access_token, c.refresh_token)


def test_reencrypt_reports_rows_no_key_can_read(settings):
    old_key = settings.VAULT_KEYS[0]
    _store(ConnectionFactory())
    lost_key = Fernet.generate_key().decode()
    settings.VAULT_KEYS = (lost_key,)
    _store(ConnectionFactory())  # under a key that will be lost
    settings.VAULT_KEYS = (Fernet.generate_key().decode(), old_key)
    out, err = StringIO(), StringIO()
    call_command("vault_reencrypt", stdout=out, stderr=err)
    assert "Re-encrypted 1 connection(s)" in out.getvalue()
    assert "1 could not be decrypted" in out.getvalue()


def test_admin_shows_existence_and_expiry_never_the_token(client):
    from django.utils import timezone

    staff = UserFactory(is_staff=True, is_superuser=True)
    conn = _store(
        ConnectionFactory(
            access_token="gho_admin_visible_secret",
            refresh_token="ghr_admin_visible_secret",
            token_expires_at=timezone.now(),
        )
    )
    client.force_login(staff)
    from django.test import override_settings

    with override_settings(
        MIDDLEWARE=[
            m for m in __import__("django.conf").conf.settings.MIDDLEWARE if "StaffMFA" not in m
        ]
    ):
        listing = client.get("/admin/connections/connection/")
        detail = client.get(f"/admin/connections/connection/{conn.pk}/change/")
    assert listing.status_code == 200 and detail.status_code == 200
    for page in (listing, detail):
        text = page.content.decode()
        assert "gho_admin_visible_secret" not in text and "ghr_admin_visible_secret" not in text
        assert vault.current_key_id() + ":" not in text
    assert "Refresh token stored" in detail.content.decode()
