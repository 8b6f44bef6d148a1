"""The token endpoint's client read (apps_registry.selectors.client_with_app): one statement, the
same instances the ORM's select_related/prefetch_related would give. Counts, not timings."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps_registry.models import App, OAuthClient
from apps_registry.selectors import client_with_app
from apps_registry.services import app_register
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_client_app_and_scopes_come_from_one_statement_as_the_orm_reads_them():
    registration = app_register(
        owner=UserFactory(),
        name="Reader",
        redirect_uris=["https://reader.example.com/cb"],
        scopes={"services.github.repositories.read": True, "identity.profile.read": False},
        allow_client_credentials=True,
    )
    client_id = registration.app.client.client_id
    expected = (
        OAuthClient.objects.select_related("app")
        .prefetch_related("app__allowed_scopes")
        .get(client_id=client_id)
    )
    with CaptureQueriesContext(connection) as ctx:
        client = client_with_app(client_id)
        scopes = [(s.pk, s.scope, s.required) for s in client.app.allowed_scopes.all()]
        usable = client.is_usable(None)
    assert len(ctx.captured_queries) == 1
    assert _fields(client) == _fields(expected)
    assert _fields(client.app) == _fields(expected.app)
    assert client.app.client is client
    assert scopes == [(s.pk, s.scope, s.required) for s in expected.app.allowed_scopes.all()]
    assert usable


def test_a_client_without_an_app_and_an_unknown_id():
    registration = app_register(
        owner=UserFactory(),
        name="Orphan",
        redirect_uris=["https://o.example.com/cb"],
        scopes={"identity.profile.read": True},
    )
    client = registration.app.client
    App.objects.filter(pk=registration.app.pk).delete()
    with CaptureQueriesContext(connection) as ctx:
        found = client_with_app(client.client_id)
        assert found is not None and found.pk == client.pk
        assert getattr(found, "app", None) is None
        assert not found.is_usable(None)
    assert len(ctx.captured_queries) == 1
    assert client_with_app("no-such-client") is None


def test_refresh_tokens_with_a_checksum_come_live_first_with_access_token_and_person():
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, RefreshToken

    from apps_registry.selectors import refresh_tokens_with_checksum

    registration = app_register(
        owner=UserFactory(),
        name="Refresher",
        redirect_uris=["https://r.example.com/cb"],
        scopes={"identity.profile.read": True},
    )
    client, person = registration.app.client, UserFactory()
    access = AccessToken.objects.create(
        user=person, application=client, token="a-1", expires=timezone.now() + timedelta(minutes=5)
    )
    live = RefreshToken.objects.create(
        user=person, application=client, token="r-1", access_token=access
    )
    # A revoked row with the same checksum (rotation leaves them), with no access token.
    RefreshToken.objects.create(
        user=person, application=client, token="r-1", revoked=timezone.now()
    )
    expected = list(
        RefreshToken.objects.filter(token_checksum=live.token_checksum).select_related(
            "access_token", "user"
        )
    )  # compared by pk below
    with CaptureQueriesContext(connection) as ctx:
        rows = refresh_tokens_with_checksum(live.token_checksum)
        loaded = [(r.access_token, r.user) for r in rows]
    assert len(ctx.captured_queries) == 1
    assert rows[0].pk == live.pk and len(rows) == 2
    by_pk = {r.pk: r for r in expected}
    for row in rows:
        assert _fields(row) == _fields(by_pk[row.pk])
        assert _fields(row.user) == _fields(by_pk[row.pk].user)
    assert _fields(loaded[0][0]) == _fields(access) and loaded[0][0].refresh_token is rows[0]
    assert loaded[1][0] is None
    assert refresh_tokens_with_checksum("0" * 64) == []
