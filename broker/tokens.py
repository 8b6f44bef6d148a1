"""Platform tokens on the broker's API: who is calling, for which grant.

:func:`token_authenticate` reads the bearer token with
:func:`broker.selectors.token_raw_with_connection` (one query: token, app, person, the person's
grant and the call's connection; kept by :mod:`broker.factcache` while the rows it came from are
unchanged) and returns a :class:`PlatformToken`;
:func:`grant_for_token` gives the grant it acts for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import router
from django.utils import timezone
from oauth2_provider.settings import oauth2_settings

from apps_registry.audience import API as API_AUDIENCE
from apps_registry.audience import audience_allows, resource_uri
from apps_registry.models import App
from broker import exceptions, factcache
from broker.selectors import grant_for_client, token_row_from
from consent.models import Grant
from consent.selectors import token_ended_with_grant
from identity.rows import instance_from_values

GRANT_HEADER = "HTTP_PLATFORM_GRANT"


@dataclass(slots=True)
class PlatformToken:
    """The facts of one platform access token (never its value), with its app and person.

    ``grant`` is the grant of the token's person and app as it was read with the token, or
    None (none, or a client-credentials token, which names its grant in a header)."""

    id: int
    user_id: int | None
    application_id: int
    source_refresh_token_id: int | None
    expires: dt.datetime
    scope: str
    created: dt.datetime
    resource: Any
    app: App
    user: Any
    grant: Grant | None
    # The grant's connection for the call's service, read in the token's statement (with the
    # facts on a cache miss, with their versions on a hit); None when the call names no service
    # or the grant no connection for it.
    preloaded_connection: Any = None
    # What token_authenticate's ``meanwhile`` gave, when its work overlapped the read of this
    # token's cached facts; None otherwise.
    overlapped: Any = None

    def is_expired(self) -> bool:
        return timezone.now() >= self.expires


def _instance(model, values: dict):
    return instance_from_values(model, router.db_for_read(model), values)


def _token(row) -> PlatformToken:
    app = _instance(App, row.app)
    user = _instance(get_user_model(), row.user) if row.user is not None else None
    grant = None
    if row.grant is not None:
        grant = _instance(Grant, row.grant)
        grant.app, grant.user = app, user
    return PlatformToken(**row.token, app=app, user=user, grant=grant)


def _versioned_ids(raw: tuple) -> tuple | None:
    """The primary keys of the rows a token's facts come from (``broker.selectors.VERSIONED``),
    or None for facts not to keep: a person's token without its grant is refused, and a grant
    made for that person and app later must be seen."""
    row = token_row_from(raw)
    if row.app is None or (row.token["user_id"] is not None and row.grant is None):
        return None
    grant_id = row.grant["id"] if row.grant is not None else None
    return (row.token["id"], row.app["id"], row.token["user_id"], grant_id)


def _person_token_work(meanwhile):
    if meanwhile is None:
        return None

    def start(ids):
        _token_id, app_id, _user_id, grant_id = ids
        # A client-credentials token names its grant in a header, checked after the token:
        # nothing is started on its behalf.
        return None if grant_id is None else meanwhile(app_id=app_id, grant_id=grant_id)

    return start


def token_authenticate(
    *, request, audience: str = API_AUDIENCE, service: str | None = None, meanwhile=None
) -> PlatformToken:
    """The token named by ``Authorization: Bearer``, looked up by checksum, if its RFC 8707
    audience includes ``audience`` (``apps_registry.audience``: the REST API, or the MCP
    endpoint).

    ``meanwhile(app_id=, grant_id=)``: work for a person's token whose facts this process
    holds, started before they are checked so that its wait overlaps theirs; it returns a
    function called when the check is back (``broker.factcache.lookup``), whose result is the
    token's ``overlapped``. It is started for the app and grant the facts name before they are
    checked: whoever uses the result compares them with the token's."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or len(raw) > 512:
        raise exceptions.InvalidToken()
    checksum = hashlib.sha256(raw.encode()).hexdigest()

    # From this process's cache while the rows it came from are unchanged (broker.factcache).
    read, overlapped = factcache.lookup(
        checksum, service=service, ids_of=_versioned_ids, meanwhile=_person_token_work(meanwhile)
    )
    found = read.row
    row = None if found is None else token_row_from(found)
    if row is None and audience == API_AUDIENCE and token_ended_with_grant(checksum):
        # Its grant was revoked (or expired): say so, as the developer guide promises. MCP keeps
        # a plain 401 invalid_token: that is what makes an MCP client authorize again.
        raise exceptions.GrantRevoked()
    if row is None or row.token["application_id"] is None:
        raise exceptions.InvalidToken()
    if row.app is None:
        raise exceptions.InvalidToken("This token belongs to no registered app.")
    token = _token(row)
    token.preloaded_connection = read.connection
    token.overlapped = overlapped
    if token.is_expired():
        raise exceptions.InvalidToken()
    if row.user is not None and not row.user["is_active"]:
        # A deactivated person's apps act for nobody (issue 12 item 3).
        raise exceptions.InvalidToken("The person this token acts for is no longer active.")
    if oauth2_settings.DCR_REGISTRATION_SCOPE in token.scope.split():
        # RFC 7592's registration access token manages a registration; it calls nothing.
        raise exceptions.InvalidToken()
    if not audience_allows(token.resource, audience, request):
        raise exceptions.InvalidToken(
            "This token was issued for another resource (its RFC 8707 audience): ask for one "
            f"with resource={resource_uri(request, audience)}."
        )
    return token


def grant_for_token(*, token: PlatformToken, request) -> Grant | None:
    """The grant this token acts for, as it is now; None if there is none."""
    if token.user_id is not None:
        # Loaded with the token (same query, so as current as a second query would be).
        return token.grant
    raw = request.META.get(GRANT_HEADER, "").strip()
    if not raw.isdigit() or len(raw) > 18:
        raise exceptions.InvalidToken(
            "A client-credentials token must name the grant it acts for in the Platform-Grant "
            "header."
        )
    grant = grant_for_client(grant_id=int(raw), app_id=token.app.pk)
    if grant is None:
        raise exceptions.InvalidToken("This token cannot act for that grant.")
    if not grant.user.is_active:
        raise exceptions.InvalidToken("The person this grant is for is no longer active.")
    grant.app = token.app
    return grant
