"""Writes to the apps registry. Each service validates, changes rows inside a transaction and
records its audit event; the developer pages, the admin and the demo seeder only call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from apps_registry.models import (
    App,
    AppScope,
    OAuthClient,
    Publisher,
    UsedAuthorizationCode,
    is_loopback_host,
)
from apps_registry.oauth import BACKGROUND_SCOPE, catalog_scope_names
from audit.actions import Action, ActorType
from audit.services import record_event


class RegistryError(ValueError):
    """Bad input for a registry service; the message is one sentence for people."""


@dataclass(frozen=True, slots=True)
class Registration:
    app: App
    client_secret: str  # plaintext, shown once; "" for public clients


def _actor_type(actor) -> ActorType:
    if actor is None:
        return ActorType.SYSTEM
    return ActorType.STAFF if actor.is_staff else ActorType.PERSON


def validate_redirect_uri(uri: str) -> str:
    """An absolute https URI, or an http loopback IP literal (RFC 8252 7.3, any port at request
    time). No fragment, no credentials, no wildcards. Returns the URI unchanged: matching is
    exact, so nothing is normalised."""
    uri = uri.strip()
    if not uri or any(c.isspace() for c in uri):
        raise RegistryError("A redirect URI must be one absolute URI without spaces.")
    parts = urlsplit(uri)
    if "#" in uri:
        raise RegistryError("A redirect URI must not contain a fragment (#).")
    if "@" in parts.netloc:
        raise RegistryError("A redirect URI must not contain user credentials.")
    if "*" in parts.netloc:
        raise RegistryError("Wildcards are not allowed in redirect URIs.")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return uri
    raise RegistryError(
        "A redirect URI must use https, or http on a loopback address "
        "(http://127.0.0.1/... or http://[::1]/...) for native and command-line apps."
    )


def validate_scopes(scopes: dict[str, bool], *, may_request_background: bool) -> dict[str, bool]:
    known = catalog_scope_names()
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise RegistryError(f"Unknown scope: {unknown[0]}.")
    if BACKGROUND_SCOPE in scopes and not may_request_background:
        raise RegistryError(f"{BACKGROUND_SCOPE} needs background access to be allowed.")
    if not scopes:
        raise RegistryError("Choose at least one scope the app may request.")
    return scopes


def _set_scopes(app: App, scopes: dict[str, bool]) -> None:
    AppScope.objects.filter(app=app).exclude(scope__in=list(scopes)).delete()
    for scope, required in scopes.items():
        AppScope.objects.update_or_create(app=app, scope=scope, defaults={"required": required})


APP_FIELDS = (
    "name",
    "description",
    "homepage_url",
    "logo_url",
    "privacy_policy_url",
    "terms_url",
    "contact_email",
    "may_request_background",
)


def app_register(
    *,
    owner,
    name: str,
    client_type: str = OAuthClient.CLIENT_CONFIDENTIAL,
    redirect_uris: list[str],
    scopes: dict[str, bool],
    publisher: Publisher | None = None,
    publisher_name: str = "",
    allow_client_credentials: bool = False,
    client_id: str | None = None,
    client_secret: str | None = None,
    request=None,
    **details,
) -> Registration:
    """Register an app: its publisher (created for ``owner`` if needed), its OAuth client
    (one-to-one) and the scopes it may request (``{scope: required}``). The client secret is
    returned once, in plaintext, and stored hashed."""
    unknown = set(details) - set(APP_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    name = name.strip()
    if not name:
        raise RegistryError("The app needs a name.")
    if client_type not in (OAuthClient.CLIENT_CONFIDENTIAL, OAuthClient.CLIENT_PUBLIC):
        raise RegistryError("The client type must be confidential or public.")
    if allow_client_credentials and client_type != OAuthClient.CLIENT_CONFIDENTIAL:
        raise RegistryError("Only confidential clients may use client credentials.")
    uris = [validate_redirect_uri(u) for u in redirect_uris if u.strip()]
    if not uris:
        raise RegistryError("Register at least one redirect URI.")
    validate_scopes(scopes, may_request_background=details.get("may_request_background", False))
    if publisher is not None and not publisher_can_manage(publisher, owner):
        raise RegistryError("You are not a member of that publisher.")
    secret = ""
    if client_type == OAuthClient.CLIENT_CONFIDENTIAL:
        secret = client_secret or generate_client_secret()
    with transaction.atomic():
        if publisher is None:
            publisher = Publisher.objects.filter(owner=owner).order_by("pk").first()
            if publisher is None:
                publisher = Publisher.objects.create(
                    name=(publisher_name or getattr(owner, "name", "") or owner.email)[:150],
                    owner=owner,
                )
        client = OAuthClient(
            name=name[:255],
            client_type=client_type,
            authorization_grant_type=OAuthClient.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(dict.fromkeys(uris)),
            client_secret=secret,
            allow_client_credentials=allow_client_credentials,
            user=owner,
            skip_authorization=False,
        )
        if client_id:
            client.client_id = client_id
        client.save()
        app = App.objects.create(client=client, publisher=publisher, name=name[:100], **details)
        _set_scopes(app, scopes)
        record_event(
            Action.APP_REGISTERED,
            actor_type=_actor_type(owner),
            actor_user=owner,
            app=app,
            request=request,
            metadata={"client_type": client_type, "scopes": sorted(scopes)},
        )
    return Registration(app=app, client_secret=secret)


def publisher_can_manage(publisher: Publisher, user) -> bool:
    # An owner-less publisher (self-registered clients) is managed by staff only.
    return (
        (publisher.owner_id is not None and publisher.owner_id == user.pk)
        or publisher.members.filter(pk=user.pk).exists()
        or bool(getattr(user, "is_staff", False))
    )


def app_update(
    *,
    app: App,
    actor,
    scopes: dict[str, bool] | None = None,
    allow_client_credentials: bool | None = None,
    request=None,
    **changes,
) -> App:
    """Change an app's details, the scopes it may request, or client credentials use."""
    unknown = set(changes) - set(APP_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    if "name" in changes and not str(changes["name"]).strip():
        raise RegistryError("The app needs a name.")
    background = changes.get("may_request_background", app.may_request_background)
    if scopes is not None:
        validate_scopes(scopes, may_request_background=background)
    elif not background and app.allowed_scopes.filter(scope=BACKGROUND_SCOPE).exists():
        raise RegistryError(f"Remove {BACKGROUND_SCOPE} before turning background access off.")
    client = app.client
    if allow_client_credentials and client.client_type != OAuthClient.CLIENT_CONFIDENTIAL:
        raise RegistryError("Only confidential clients may use client credentials.")
    with transaction.atomic():
        changed = sorted(k for k, v in changes.items() if getattr(app, k) != v)
        for key, value in changes.items():
            setattr(app, key, value)
        app.save()
        if "name" in changes:
            client.name = app.name
        ended = 0
        if allow_client_credentials is not None:
            if client.allow_client_credentials != allow_client_credentials:
                changed.append("allow_client_credentials")
                if not allow_client_credentials:
                    # Turning it off ends what it issued: the tokens of the app itself (no person).
                    ended = revoke_client_credentials_tokens(client)
            client.allow_client_credentials = allow_client_credentials
        client.save(update_fields=["name", "allow_client_credentials", "updated"])
        if scopes is not None:
            before = {s.scope: s.required for s in app.allowed_scopes.all()}
            if before != scopes:
                changed.append("scopes")
            _set_scopes(app, scopes)
        record_event(
            Action.APP_UPDATED,
            actor_type=_actor_type(actor),
            actor_user=actor,
            app=app,
            request=request,
            metadata={"changed": changed, **({"app_access_ended": ended} if ended else {})},
        )
    return app


def _change_redirect_uris(*, app: App, actor, request, change, metadata: dict) -> App:
    """Apply ``change(uris) -> new uris`` to the client's redirect URIs under a row lock."""
    with transaction.atomic():
        client = OAuthClient.objects.select_for_update().get(pk=app.client_id)
        client.redirect_uris = " ".join(change(client.redirect_uris.split()))
        client.save(update_fields=["redirect_uris", "updated"])
        record_event(
            Action.APP_UPDATED,
            actor_type=_actor_type(actor),
            actor_user=actor,
            app=app,
            request=request,
            metadata=metadata,
        )
    app.client = client
    return app


def app_add_redirect_uri(*, app: App, actor, uri: str, request=None) -> App:
    uri = validate_redirect_uri(uri)

    def add(uris: list[str]) -> list[str]:
        if uri in uris:
            raise RegistryError("That redirect URI is already registered.")
        return [*uris, uri]

    return _change_redirect_uris(
        app=app, actor=actor, request=request, change=add, metadata={"redirect_uri_added": uri}
    )


def app_remove_redirect_uri(*, app: App, actor, uri: str, request=None) -> App:
    def remove(uris: list[str]) -> list[str]:
        if uri not in uris:
            raise RegistryError("That redirect URI is not registered.")
        if len(uris) == 1:
            raise RegistryError("An app needs at least one redirect URI; add another first.")
        return [u for u in uris if u != uri]

    return _change_redirect_uris(
        app=app,
        actor=actor,
        request=request,
        change=remove,
        metadata={"redirect_uri_removed": uri},
    )


def app_rotate_secret(*, app: App, actor, grace: timedelta | None = None, request=None) -> str:
    """Issue a new client secret (returned once, stored hashed). The previous one keeps working
    for ``grace`` (``settings.OAUTH_CLIENT_SECRET_GRACE`` by default, 0 ends it at once)."""
    grace = settings.OAUTH_CLIENT_SECRET_GRACE if grace is None else grace
    with transaction.atomic():
        client = OAuthClient.objects.select_for_update().get(pk=app.client_id)
        if client.client_type != OAuthClient.CLIENT_CONFIDENTIAL:
            raise RegistryError("Public clients have no secret.")
        secret = generate_client_secret()
        if grace > timedelta(0):
            client.previous_client_secret = client.client_secret
            client.previous_client_secret_expires_at = timezone.now() + grace
        else:
            client.previous_client_secret = ""
            client.previous_client_secret_expires_at = None
        client.client_secret = secret  # hashed by ClientSecretField on save
        client.save(
            update_fields=[
                "client_secret",
                "previous_client_secret",
                "previous_client_secret_expires_at",
                "updated",
            ]
        )
        record_event(
            Action.APP_SECRET_ROTATED,
            actor_type=_actor_type(actor),
            actor_user=actor,
            app=app,
            request=request,
            metadata={"grace_seconds": int(grace.total_seconds())},
        )
    app.client = client
    return secret


def revoke_client_credentials_tokens(client: OAuthClient) -> int:
    """End the tokens a client got for itself (client credentials: no person behind them)."""
    deleted, _ = (
        get_access_token_model().objects.filter(application=client, user__isnull=True).delete()
    )
    return deleted


def revoke_all_tokens(client: OAuthClient) -> int:
    """End every token of a client now: refresh tokens revoked, access tokens deleted."""
    now = timezone.now()
    get_refresh_token_model().objects.filter(application=client, revoked__isnull=True).update(
        revoked=now, updated=now
    )
    deleted, _ = get_access_token_model().objects.filter(application=client).delete()
    return deleted


def app_suspend(*, app: App, actor, reason: str, request=None) -> App:
    """Suspend an app: every token stops at once and no new authorization or token is issued.
    The reason is shown to people on the consent screen and in their dashboard."""
    reason = (reason or "").strip()
    if not reason:
        raise RegistryError("Give a reason: people see it.")
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        app.suspended_at = app.suspended_at or timezone.now()
        app.suspension_reason = reason[:500]
        app.save(update_fields=["suspended_at", "suspension_reason", "updated_at"])
        revoked = revoke_all_tokens(app.client)
        record_event(
            Action.APP_SUSPENDED,
            actor_type=_actor_type(actor),
            actor_user=actor,
            app=app,
            reason=reason,
            request=request,
            metadata={"access_tokens_revoked": revoked},
        )
    return app


def app_unsuspend(*, app: App, actor, reason: str = "", request=None) -> App:
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        if app.suspended_at is None:
            return app
        app.suspended_at = None
        app.suspension_reason = ""
        app.save(update_fields=["suspended_at", "suspension_reason", "updated_at"])
        record_event(
            Action.APP_UNSUSPENDED,
            actor_type=_actor_type(actor),
            actor_user=actor,
            app=app,
            reason=reason,
            request=request,
        )
    return app


def app_verify(*, app: App, actor, verified: bool = True, request=None) -> App:
    """Mark an app verified (or not). Staff only (``actor=None`` is the system: the demo seeder)."""
    if actor is not None and not actor.is_staff:
        raise PermissionError("Only staff can verify apps.")
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        if app.verified == verified:
            return app
        app.verified = verified
        app.save(update_fields=["verified", "updated_at"])
        record_event(
            Action.APP_VERIFIED if verified else Action.APP_UPDATED,
            actor_type=_actor_type(actor),
            actor_user=actor,
            app=app,
            request=request,
            metadata={"verified": verified},
        )
    return app


def used_codes_forget(*, now=None) -> int:
    """Forget exchanged authorization codes once no token issued from them can still live."""
    deleted, _ = UsedAuthorizationCode.objects.filter(
        forget_after__lte=now or timezone.now()
    ).delete()
    return deleted
