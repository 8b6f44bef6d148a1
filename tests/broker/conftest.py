"""Fixtures for the broker: a fake provider over real HTTP, a person with connections and a
grant, and platform tokens of every kind."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.broker import fake_provider
from tests.factories import AppFactory, ConnectionFactory, GrantFactory, UserFactory

GH_READ = "services.github.repositories.read"
GH_WRITE = "services.github.repositories.write"
SL_READ = "services.slack.channels.read"
SL_WRITE = "services.slack.messages.write"
DR_READ = "services.google.drive.files.read"
DR_WRITE = "services.google.drive.files.write"
ALL_SCOPES = [
    "identity.profile.read",
    GH_READ,
    GH_WRITE,
    SL_READ,
    SL_WRITE,
    DR_READ,
    DR_WRITE,
    "agents.jobs.background",
    "agents.actions.unattended_writes",
]


@pytest.fixture(scope="session")
def _fake_server():
    fake, server = fake_provider.start()
    yield fake
    server.shutdown()


@pytest.fixture
def fake(_fake_server, settings, monkeypatch):
    """The fake provider, reset, with the real providers' API base URLs pointing at it and the
    vault's token source answering from the connection's (encrypted) stored token."""
    f = _fake_server
    f.valid_tokens.clear()
    f.seen.clear()
    f.fail_next.clear()
    f.issues.clear()
    f.messages.clear()
    f.created_files.clear()
    # config.env names the API override "api"; connections.providers currently reads
    # "api_base" (api_base_url minus "_url"): set both until they agree.
    settings.PROVIDER_URLS = {
        provider: {"api": f.url + path, "api_base": f.url + path}
        for provider, path in (
            ("github", "/github"),
            ("slack", "/slack/api"),
            ("google", "/google"),
        )
    }
    settings.OUTBOUND_BACKOFF = 0
    cache.clear()

    from broker import gateway

    def access_token(connection, *, rejected_token=None, deadline=None):
        # The vault's contract (connections.refresh.get_valid_access_token) without its token
        # endpoint: a rejected token is refreshed once, unless already replaced or already
        # rejected after a refresh.
        from broker import exceptions
        from connections.models import Connection

        row = Connection.objects.get(pk=connection.pk)
        if rejected_token is not None and row.access_token == rejected_token:
            if row.token_rejected_at is not None:
                raise exceptions.UpstreamTokenRejected()
            row.access_token = f"provider-secret-refreshed-{secrets.token_hex(8)}"
            row.token_rejected_at = None
            row.save(update_fields=["access_token", "token_rejected_at"])
            f.valid_tokens.add(row.access_token)
            f.refreshes = getattr(f, "refreshes", 0) + 1
        connection.access_token = row.access_token
        return row.access_token

    f.refreshes = 0
    monkeypatch.setattr(gateway, "access_token", access_token)
    return f


def issue_token(
    *,
    app,
    user=None,
    scopes,
    age: timedelta = timedelta(0),
    lifetime: timedelta = timedelta(minutes=10),
    from_refresh: bool = False,
) -> str:
    from oauth2_provider.models import AccessToken, RefreshToken, set_token_value

    raw = "platform-" + secrets.token_urlsafe(24)
    token = AccessToken(
        user=user,
        application=app.client,
        expires=timezone.now() - age + lifetime,
        scope=" ".join(scopes),
    )
    set_token_value(token, raw)
    if from_refresh:
        refresh = RefreshToken(user=user, application=app.client)
        set_token_value(refresh, "refresh-" + secrets.token_urlsafe(24))
        refresh.save()
        token.source_refresh_token = refresh
    token.save()
    if age:
        AccessToken.objects.filter(pk=token.pk).update(created=timezone.now() - age)
    return raw


@dataclass
class World:
    user: object
    app: object
    grant: object
    connections: dict
    fake: object
    client: object
    tokens: list = field(default_factory=list)

    def token(self, scopes=None, **kw) -> str:
        raw = issue_token(app=self.app, user=self.user, scopes=scopes or self.grant.scopes, **kw)
        self.tokens.append(raw)
        return raw

    def cc_token(self, **kw) -> str:
        raw = issue_token(app=self.app, user=None, scopes=self.grant.scopes, **kw)
        self.tokens.append(raw)
        return raw

    def get(self, path, token=None, **extra):
        return self.client.get(
            "/api/v1/" + path, HTTP_AUTHORIZATION=f"Bearer {token or self.token()}", **extra
        )

    def post(self, path, data, token=None, **extra):
        return self.client.post(
            "/api/v1/" + path,
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token or self.token()}",
            **extra,
        )

    def provider_tokens(self) -> list[str]:
        from connections.models import Connection

        return [c.access_token for c in Connection.objects.all()] + [
            c.refresh_token for c in Connection.objects.all() if c.refresh_token
        ]


def make_world(fake, client, *, scopes=None, user=None, app=None) -> World:
    user = user or UserFactory()
    app = app or AppFactory(scopes=ALL_SCOPES)
    connections = {}
    for provider, login in (("github", "octo"), ("slack", "T1"), ("google", "me")):
        conn = ConnectionFactory(
            user=user,
            provider=provider,
            login=login,
            access_token=f"provider-secret-{provider}-{secrets.token_hex(8)}",
            refresh_token=f"provider-refresh-{provider}-{secrets.token_hex(8)}",
            # GitHub's organisation scope needs read:org on the connection.
            **({"scopes": ["repo", "read:user", "read:org"]} if provider == "github" else {}),
        )
        fake.valid_tokens.add(conn.access_token)
        connections[provider] = conn
    grant = GrantFactory(
        user=user,
        app=app,
        scopes=scopes
        if scopes is not None
        else [s for s in ALL_SCOPES if s != "agents.actions.unattended_writes"],
        connections={service: c.pk for service, c in connections.items()},
        resources={
            GH_READ: [{"id": "octo/hello", "label": "octo/hello"}],
            GH_WRITE: [{"id": "octo/hello", "label": "octo/hello"}],
            SL_READ: [{"id": "C0001", "label": "#general"}],
            SL_WRITE: [{"id": "C0001", "label": "#general"}],
            DR_READ: [{"id": "FolderA", "label": "Folder A"}],
            DR_WRITE: [{"id": "FolderA", "label": "Folder A"}],
        },
    )
    return World(user=user, app=app, grant=grant, connections=connections, fake=fake, client=client)


@pytest.fixture
def world(db, fake, client):
    return make_world(fake, client)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Factories set people's passwords; PBKDF2's million rounds per person only slow the suite
    here (no broker test is about passwords)."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "apps_registry.hashers.ClientSecretHasher",
    ]
