"""What the harness puts in the databases before it measures (runs in the harness's own process).

Everything is made through the models the platform itself uses, with tokens stored as the
platform stores them (checksums for platform tokens, the vault's encryption for provider tokens),
so the servers read exactly what they would read in service.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

GH_READ = "services.github.repositories.read"
PROFILE = "identity.profile.read"
BACKGROUND = "agents.jobs.background"
REDIRECT = "https://bench.example.com/callback"


@dataclass
class PlatformWorld:
    person_id: int
    grant_id: int
    connection_id: int
    app_id: int
    client_id: str
    client_secret: str
    token: str  # a platform access token for the person (broker calls)
    refresh_tokens: list[str] = field(default_factory=list)


def _set_checksum(token, raw: str) -> None:
    token.token = ""
    token.token_checksum = hashlib.sha256(raw.encode()).hexdigest()


def platform_world(*, refresh_pool: int, people: int = 200) -> PlatformWorld:
    """One person with a GitHub connection, an app, a grant for one selected repository and a
    platform token; ``people`` more people with grants, and ``refresh_pool`` refresh tokens."""
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    from apps_registry.services import app_register
    from connections.models import Connection
    from consent.models import Grant
    from identity.models import User

    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    tag = secrets.token_hex(4)
    owner = User.objects.create(email=f"bench-dev-{tag}@example.com", name="Bench developer")
    person = User.objects.create(email=f"bench-person-{tag}@example.com", name="Bench Person")
    registration = app_register(
        owner=owner,
        name=f"Bench agent {tag}",
        redirect_uris=[REDIRECT],
        scopes={PROFILE: True, GH_READ: True, BACKGROUND: False},
        allow_client_credentials=True,
        may_request_background=True,
    )
    app, secret = registration.app, registration.client_secret
    connection = Connection.objects.create(
        user=person,
        provider="github",
        provider_account_id=f"bench-{tag}",
        login="octo",
        scopes=["repo", "read:user"],
        access_token="bench-access-" + secrets.token_hex(12),
        refresh_token="bench-refresh-" + secrets.token_hex(12),
        token_expires_at=timezone.now() + timedelta(hours=8),
    )
    grant = Grant.objects.create(
        user=person,
        app=app,
        scopes=[PROFILE, GH_READ, BACKGROUND],
        connections={"github": connection.pk},
        resources={GH_READ: [{"id": "octo/hello", "label": "octo/hello"}]},
    )
    raw = "bench-platform-" + secrets.token_urlsafe(24)
    token = AccessToken(
        user=person,
        application=app.client,
        expires=timezone.now() + timedelta(hours=6),
        scope=" ".join(grant.scopes),
    )
    _set_checksum(token, raw)
    token.save()

    others = User.objects.bulk_create(
        User(email=f"bench-{tag}-{n}@example.com", name=f"Person {n}") for n in range(people)
    )
    Grant.objects.bulk_create(Grant(user=u, app=app, scopes=[PROFILE, BACKGROUND]) for u in others)
    refresh = []
    if refresh_pool:
        expires = timezone.now() + timedelta(hours=1)
        owners = [others[n % len(others)] for n in range(refresh_pool)]
        access = AccessToken.objects.bulk_create(
            AccessToken(
                user=u,
                application=app.client,
                token="",
                token_checksum=hashlib.sha256(secrets.token_bytes(24)).hexdigest(),
                scope=f"{PROFILE} {BACKGROUND}",
                expires=expires,
            )
            for u in owners
        )
        refresh = [secrets.token_urlsafe(30) for _ in range(refresh_pool)]
        RefreshToken.objects.bulk_create(
            RefreshToken(
                user=u,
                application=app.client,
                token="",
                token_checksum=hashlib.sha256(value.encode()).hexdigest(),
                access_token=a,
                token_family=uuid.uuid4(),
            )
            for value, a, u in zip(refresh, access, owners, strict=True)
        )
    return PlatformWorld(
        person_id=person.pk,
        grant_id=grant.pk,
        connection_id=connection.pk,
        app_id=app.pk,
        client_id=app.client.client_id,
        client_secret=secret,
        token=raw,
        refresh_tokens=refresh,
    )


def person_token(world: PlatformWorld, *, resource: list[str] | None = None) -> str:
    """A new platform access token for the world's person (a revocation ends the old ones);
    ``resource``: its RFC 8707 audience (the MCP endpoint's URI for an MCP token)."""
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    from consent.models import Grant

    grant = Grant.objects.select_related("app__client").get(pk=world.grant_id)
    raw = "bench-platform-" + secrets.token_urlsafe(24)
    token = get_access_token_model()(
        user_id=world.person_id,
        application=grant.app.client,
        expires=timezone.now() + timedelta(hours=6),
        scope=" ".join(grant.scopes),
    )
    if resource is not None:
        token.resource = resource
    _set_checksum(token, raw)
    token.save()
    return raw


def grow(world: PlatformWorld, *, people: int = 50, repos: int = 1000, audit_rows: int = 1000):
    """More of everything a brokered call could scale with: people with grants and their own
    connections and tokens, selected repositories on the call's own grant, audit rows."""
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    from audit.actions import Action, ActorType
    from audit.services import record_event
    from connections.models import Connection
    from consent.models import Grant
    from identity.models import User

    AccessToken = get_access_token_model()
    grant = Grant.objects.select_related("app__client").get(pk=world.grant_id)
    tag = secrets.token_hex(4)
    for n in range(people):
        u = User.objects.create(email=f"grow-{tag}-{n}@example.com")
        c = Connection.objects.create(
            user=u, provider="github", provider_account_id=f"g{tag}{n}", access_token="x"
        )
        Grant.objects.create(
            user=u,
            app=grant.app,
            scopes=grant.scopes,
            connections={"github": c.pk},
            resources={GH_READ: [{"id": f"octo/g{n}", "label": ""}]},
        )
        t = AccessToken(
            user=u,
            application=grant.app.client,
            expires=timezone.now() + timedelta(hours=1),
            scope=" ".join(grant.scopes),
        )
        _set_checksum(t, secrets.token_urlsafe(20))
        t.save()
    grant.resources = {
        **grant.resources,
        GH_READ: [{"id": f"octo/r{i}", "label": ""} for i in range(repos)]
        + [{"id": "octo/hello", "label": "octo/hello"}],
    }
    grant.save(update_fields=["resources"])
    for n in range(audit_rows):
        record_event(Action.API_CALL, actor_type=ActorType.APP, grant=grant, metadata={"n": n})


def stock_dot_world(*, refresh_pool: int) -> dict:
    """Stock django-oauth-toolkit: a client-credentials application and an authorization-code
    application with ``refresh_pool`` refresh tokens (its own tables, its own database)."""
    from django.contrib.auth.models import User
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application, RefreshToken

    tag = secrets.token_hex(4)
    person = User.objects.create(username=f"bench-{tag}")
    out = {}
    for kind, grant_type in (
        ("cc", Application.GRANT_CLIENT_CREDENTIALS),
        ("refresh", Application.GRANT_AUTHORIZATION_CODE),
    ):
        secret = secrets.token_urlsafe(40)
        app = Application.objects.create(
            name=f"bench {kind} {tag}",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=grant_type,
            client_secret=secret,
            redirect_uris=REDIRECT,
            user=person,
        )
        out[kind] = {"client_id": app.client_id, "secret": secret}
    app = Application.objects.get(client_id=out["refresh"]["client_id"])
    expires = timezone.now() + timedelta(hours=1)
    raw = [secrets.token_urlsafe(30) for _ in range(refresh_pool)]
    access = AccessToken.objects.bulk_create(
        AccessToken(
            user=person,
            application=app,
            token=secrets.token_urlsafe(30),
            scope="read write",
            expires=expires,
        )
        for _ in raw
    )
    RefreshToken.objects.bulk_create(
        RefreshToken(user=person, application=app, token=value, access_token=a)
        for value, a in zip(raw, access, strict=True)
    )
    out["refresh"]["refresh_tokens"] = raw
    return out
