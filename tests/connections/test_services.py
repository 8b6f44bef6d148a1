"""get_valid_access_token, refresh, failures, disconnect: against the sandbox over real HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from connections.exceptions import ConnectionNeedsReauthorization, ProviderUnavailable
from connections.models import Connection
from connections.sandbox.models import SandboxSwitch, SandboxToken, SandboxTokenRequest, digest
from connections.services import connection_disconnect, get_valid_access_token

pytestmark = pytest.mark.django_db(transaction=True)


def refreshes():
    return SandboxTokenRequest.objects.filter(endpoint="token", grant_type="refresh_token")


def test_valid_token_is_returned_without_refresh(make_connection):
    connection = make_connection()
    assert get_valid_access_token(connection) == connection.access_token
    assert refreshes().count() == 0
    assert Connection.objects.get(pk=connection.pk).last_used_at is not None


def test_expired_token_is_refreshed_and_rotated(make_connection):
    connection = make_connection(expired=True)
    old_access, old_refresh = connection.access_token, connection.refresh_token
    token = get_valid_access_token(connection)
    row = Connection.objects.get(pk=connection.pk)
    assert token == row.access_token != old_access
    assert row.refresh_token != old_refresh  # rotated
    assert row.token_expires_at > timezone.now()
    assert row.last_refreshed_at is not None
    assert refreshes().filter(outcome="ok").count() == 1
    assert SandboxToken.objects.get(token_digest=digest(old_refresh)).rotated_at is not None
    assert AuditEvent.objects.filter(action=Action.CONNECTION_REFRESHED).count() == 1
    # The new token works at the provider's API.
    import requests

    from connections.providers import get_provider

    response = requests.get(
        get_provider("sandbox_github").api_base_url + "/user",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["login"] == "octocat"


def test_reused_rotated_refresh_token_is_invalid_grant(make_connection):
    connection = make_connection(expired=True)
    stale_refresh = connection.refresh_token
    get_valid_access_token(connection)
    # Someone puts back the old (rotated) refresh token: the provider detects the reuse.
    row = Connection.objects.get(pk=connection.pk)
    row.refresh_token = stale_refresh
    row.token_expires_at = timezone.now() - timedelta(seconds=1)
    row.save()
    with pytest.raises(ConnectionNeedsReauthorization):
        get_valid_access_token(row)
    row.refresh_from_db()
    assert row.status == Connection.Status.NEEDS_REAUTH
    assert "bad_refresh_token" in row.status_reason
    assert AuditEvent.objects.filter(action=Action.CONNECTION_NEEDS_REAUTH).count() == 1


@pytest.mark.parametrize(
    "flavour,uid,scopes,code",
    [
        ("sandbox_github", "583231", ("repo",), "bad_refresh_token"),
        ("sandbox_slack", "U0ALICE01", ("channels:read",), "invalid_refresh_token"),
        (
            "sandbox_google",
            "110001",
            ("https://www.googleapis.com/auth/drive.readonly",),
            "invalid_grant",
        ),
    ],
)
def test_revoked_refresh_token_marks_needs_reauth_and_stops(
    make_connection, flavour, uid, scopes, code
):
    connection = make_connection(flavour=flavour, uid=uid, scopes=scopes, expired=True)
    SandboxToken.objects.filter(token_digest=digest(connection.refresh_token)).update(
        revoked_at=timezone.now()
    )
    with pytest.raises(ConnectionNeedsReauthorization):
        get_valid_access_token(connection)
    row = Connection.objects.get(pk=connection.pk)
    assert row.status == Connection.Status.NEEDS_REAUTH and code in row.status_reason
    # It stops trying: the next call does not go to the provider.
    with pytest.raises(ConnectionNeedsReauthorization):
        get_valid_access_token(row)
    assert refreshes().count() == 1
    from connections.services import due_for_refresh_ids

    assert row.pk not in due_for_refresh_ids()


def test_provider_5xx_keeps_old_token_and_backs_off(make_connection):
    connection = make_connection()
    Connection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(seconds=20)
    )
    SandboxSwitch.objects.create(name="token_endpoint_status", value="503")
    with pytest.raises(ProviderUnavailable):
        get_valid_access_token(connection)
    row = Connection.objects.get(pk=connection.pk)
    assert row.status == Connection.Status.ACTIVE
    assert (
        row.access_token == connection.access_token
        and row.refresh_token == connection.refresh_token
    )
    assert row.refresh_failures == 1 and row.next_refresh_attempt_at > timezone.now()
    from connections.services import connection_refresh_if_due, due_for_refresh_ids

    assert row.pk not in due_for_refresh_ids()
    assert connection_refresh_if_due(connection_id=row.pk) == "backing_off"
    # The provider recovers: the next attempt succeeds and clears the failures.
    SandboxSwitch.objects.all().delete()
    Connection.objects.filter(pk=row.pk).update(
        next_refresh_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert connection_refresh_if_due(connection_id=row.pk) == "refreshed"
    row.refresh_from_db()
    assert row.refresh_failures == 0 and row.next_refresh_attempt_at is None


def test_timeout_is_provider_unavailable(make_connection, settings):
    import socket

    connection = make_connection(expired=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts, never answers
    settings.SANDBOX_BASE_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.CONNECTION_REFRESH_TIMEOUT_SECONDS = 0.5
    try:
        with pytest.raises(ProviderUnavailable):
            get_valid_access_token(connection)
    finally:
        listener.close()
    assert Connection.objects.get(pk=connection.pk).refresh_token == connection.refresh_token


def test_unstorable_refresh_keeps_old_refresh_token_when_not_rotated(make_connection, monkeypatch):
    from connections import vault

    connection = make_connection(expired=True)
    SandboxSwitch.objects.create(name="rotate_refresh_tokens", value="off")
    real_encrypt = vault.encrypt
    monkeypatch.setattr(vault, "encrypt", lambda value: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(ProviderUnavailable):
        get_valid_access_token(connection)
    monkeypatch.setattr(vault, "encrypt", real_encrypt)
    row = Connection.objects.get(pk=connection.pk)
    assert row.refresh_token == connection.refresh_token and row.status == "active"
    # The kept refresh token still works.
    Connection.objects.filter(pk=row.pk).update(next_refresh_attempt_at=None)
    token = get_valid_access_token(row)
    assert token != connection.access_token
    assert Connection.objects.get(pk=row.pk).refresh_token == connection.refresh_token


def test_force_refresh_after_provider_401(make_connection):
    connection = make_connection()
    SandboxToken.objects.filter(token_digest=digest(connection.access_token)).update(
        revoked_at=timezone.now()
    )
    old = connection.access_token
    token = get_valid_access_token(connection, rejected_token=old)
    assert token != old
    # The caller's connection now carries the new token, so its next request does not meet a
    # second 401 and refresh again (one refresh per expiry).
    assert connection.access_token == token
    assert refreshes().count() == 1


def test_revoked_or_reauth_connection_raises(make_connection):
    connection = make_connection()
    Connection.objects.filter(pk=connection.pk).update(status="revoked")
    with pytest.raises(ConnectionNeedsReauthorization):
        get_valid_access_token(connection)


def test_disconnect_revokes_at_provider_and_destroys_tokens(make_connection):
    from connections.signals import connection_revoked

    received = []
    connection_revoked.connect(
        lambda sender, connection, **kw: received.append(connection.pk),
        weak=False,
        dispatch_uid="t1",
    )
    connection = make_connection()
    access, refresh = connection.access_token, connection.refresh_token
    try:
        row = connection_disconnect(connection=connection, actor=connection.user)
    finally:
        connection_revoked.disconnect(dispatch_uid="t1")
    assert row.status == "revoked" and row.revoked_at
    fresh = Connection.objects.get(pk=connection.pk)
    assert fresh.access_token is None and fresh.refresh_token is None and not fresh.has_token
    assert SandboxToken.objects.get(token_digest=digest(access)).revoked_at is not None
    assert SandboxToken.objects.get(token_digest=digest(refresh)).revoked_at is not None
    assert received == [connection.pk]
    event = AuditEvent.objects.get(action=Action.CONNECTION_REVOKED)
    assert event.metadata["provider_revocation"] == "ok"


def test_disconnect_when_provider_fails_still_destroys_tokens(make_connection, settings):
    connection = make_connection()
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9"  # nothing listens
    row = connection_disconnect(connection=connection, actor=connection.user)
    assert row.status == "revoked" and "revocation failed" in row.status_reason
    fresh = Connection.objects.get(pk=connection.pk)
    assert fresh.access_token is None and fresh.refresh_token is None
    assert (
        AuditEvent.objects.get(action=Action.CONNECTION_REVOKED).metadata["provider_revocation"]
        == "failed"
    )


def test_tokens_never_in_audit_or_logs(make_connection, caplog):
    connection = make_connection(expired=True)
    old = (connection.access_token, connection.refresh_token)
    caplog.set_level("DEBUG")
    get_valid_access_token(connection)
    new = Connection.objects.get(pk=connection.pk)
    SandboxToken.objects.filter(token_digest=digest(new.refresh_token)).update(
        revoked_at=timezone.now()
    )
    Connection.objects.filter(pk=new.pk).update(token_expires_at=timezone.now())
    with pytest.raises(ConnectionNeedsReauthorization) as info:
        get_valid_access_token(new)
    secrets_ = [*old, new.access_token, new.refresh_token]
    haystack = (
        caplog.text
        + str(info.value)
        + "".join(str(e.metadata) + e.reason for e in AuditEvent.objects.all())
    )
    for secret in secrets_:
        assert secret not in haystack


def test_real_github_and_slack_revocation_dialects(make_connection, settings, sandbox):
    """The real providers' revocation calls, pointed (as GitHub Enterprise would be) at the sandbox."""
    from connections.providers import sandbox_client_credentials

    gh_id, gh_secret = sandbox_client_credentials("sandbox_github")
    settings.PROVIDER_CREDENTIALS = {
        "github": {"client_id": gh_id, "secret": gh_secret},
        "slack": {"client_id": "x", "secret": "y"},
    }
    settings.PROVIDER_URLS = {
        "github": {"revoke": sandbox.url + "/sandbox/github/applications/{client_id}/grant"},
        "slack": {"revoke": sandbox.url + "/sandbox/slack/api/auth.revoke"},
    }
    github = make_connection()
    Connection.objects.filter(pk=github.pk).update(provider="github")
    slack = make_connection(flavour="sandbox_slack", uid="U0ALICE01", scopes=("channels:read",))
    Connection.objects.filter(pk=slack.pk).update(provider="slack")
    for c in (github, slack):
        row = connection_disconnect(connection=Connection.objects.get(pk=c.pk), actor=None)
        assert row.status == "revoked" and "failed" not in row.status_reason
        assert SandboxToken.objects.get(token_digest=digest(c.access_token)).revoked_at is not None
        assert SandboxToken.objects.get(token_digest=digest(c.refresh_token)).revoked_at is not None


def test_last_used_is_written_at_most_once_a_minute(make_connection):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    connection = make_connection()
    recent = timezone.now() - timedelta(seconds=5)
    Connection.objects.filter(pk=connection.pk).update(last_used_at=recent)
    with CaptureQueriesContext(db) as ctx:
        assert get_valid_access_token(connection) == connection.access_token
    # Read just now and recent: no UPDATE (no round trip, no commit) on the hot path.
    assert not [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    assert Connection.objects.get(pk=connection.pk).last_used_at == recent
    stale = timezone.now() - timedelta(minutes=5)
    Connection.objects.filter(pk=connection.pk).update(last_used_at=stale)
    get_valid_access_token(connection)
    assert Connection.objects.get(pk=connection.pk).last_used_at > stale


def test_a_row_loaded_for_use_is_not_read_again(make_connection):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from connections.services import connection_load_for_use

    connection = make_connection()
    Connection.objects.filter(pk=connection.pk).update(last_used_at=timezone.now())
    row = connection_load_for_use(connection_id=connection.pk)
    assert row.get_deferred_fields() == {
        f.attname
        for f in Connection._meta.concrete_fields
        if f.attname
        not in {"id", "user_id", "provider", "status", "access_token", "token_expires_at"}
        | {"last_used_at", "token_rejected_at", "call_failures"}
    }  # never the refresh token
    with CaptureQueriesContext(db) as ctx:
        assert get_valid_access_token(row, current=True) == connection.access_token
    assert ctx.captured_queries == []
    # Still checked: a row that says the connection is gone gives no token.
    row.status = Connection.Status.REVOKED
    with pytest.raises(ConnectionNeedsReauthorization):
        get_valid_access_token(row, current=True)
    # Without current=True, or with force_refresh, the vault reads the row itself.
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.REVOKED)
    fresh = connection_load_for_use(connection_id=connection.pk)
    fresh.status = Connection.Status.ACTIVE  # a stale copy
    with pytest.raises(ConnectionNeedsReauthorization):
        get_valid_access_token(fresh)
    assert connection_load_for_use(connection_id=10**9) is None
