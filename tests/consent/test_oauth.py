"""Tokens follow the grant: they never outlive it and never outgrow it."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from consent import services
from consent.models import Grant
from consent.oauth import GrantOAuth2Validator
from tests.consent.helpers import (
    BACKGROUND,
    GH_READ,
    GH_WRITE,
    authorize_url,
    exchange,
    github,
    make_app,
    pkce_pair,
    query_of,
    refresh,
)
from tests.factories import GrantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(client):
    user = UserFactory()
    client.force_login(user)
    return user


def code_for(client, app, scopes):
    verifier, challenge = pkce_pair()
    response = client.get(authorize_url(app, scopes, challenge=challenge))
    assert response.status_code == 302, response.content[:500]
    return query_of(response["Location"])["code"], verifier


def grant(person, app, scopes, **kwargs):
    connection = github(person)
    return GrantFactory(
        user=person, app=app, scopes=scopes, connections={"github": connection.pk}, **kwargs
    )


def test_the_token_endpoint_reads_a_grant_in_one_statement_as_the_orm_does(person):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consent.oauth import live_grant_for

    app = make_app([GH_READ, BACKGROUND])
    made = grant(
        person,
        app,
        [GH_READ, BACKGROUND],
        resources={GH_READ: ["octo/hello"]},
        declined_scopes=[GH_WRITE],
        expires_at=timezone.now() + timedelta(days=3),
    )
    client = type("Client", (), {"app": app})()
    with CaptureQueriesContext(connection) as ctx:
        read = live_grant_for(person, client)
    assert len(ctx.captured_queries) == 1
    expected = Grant.objects.get(pk=made.pk)
    for field in Grant._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    assert read._state.adding is False and read._state.db == expected._state.db
    Grant.objects.filter(pk=made.pk).update(revoked_at=timezone.now())
    assert live_grant_for(person, client) is None
    assert live_grant_for(UserFactory(), client) is None


def test_the_configured_validator_is_the_grant_validator():
    from oauth2_provider.settings import oauth2_settings

    assert oauth2_settings.OAUTH2_VALIDATOR_CLASS is GrantOAuth2Validator


def test_token_carries_only_what_the_grant_holds_at_exchange_time(client, person):
    app = make_app([GH_READ, GH_WRITE])
    g = grant(person, app, [GH_READ, GH_WRITE])
    code, verifier = code_for(client, app, [GH_READ, GH_WRITE])
    # Narrowed between the code and the exchange.
    services.grant_narrow(grant=g, actor=person, remove_scopes=[GH_WRITE], reason="test")
    tokens = exchange(client, app, code, verifier).json()
    assert tokens["scope"] == GH_READ
    stored = get_access_token_model().objects.get(user=person)
    assert stored.scope == GH_READ


def test_code_of_a_revoked_grant_yields_nothing(client, person):
    app = make_app([GH_READ])
    g = grant(person, app, [GH_READ])
    code, verifier = code_for(client, app, [GH_READ])
    services.grant_revoke(grant=g, actor=person, reason="test")
    response = exchange(client, app, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not get_access_token_model().objects.exists()


def test_code_of_an_expired_grant_yields_nothing(client, person):
    app = make_app([GH_READ])
    g = grant(person, app, [GH_READ], expires_at=timezone.now() + timedelta(minutes=5))
    code, verifier = code_for(client, app, [GH_READ])
    Grant.objects.filter(pk=g.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = exchange(client, app, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_access_token_never_outlives_the_grant(client, person):
    app = make_app([GH_READ])
    grant(person, app, [GH_READ], expires_at=timezone.now() + timedelta(seconds=120))
    code, verifier = code_for(client, app, [GH_READ])
    tokens = exchange(client, app, code, verifier).json()
    assert 0 < tokens["expires_in"] <= 120
    stored = get_access_token_model().objects.get(user=person)
    assert stored.expires <= Grant.objects.get().expires_at


def test_access_token_lifetime_is_the_default_for_a_grant_until_revoked(client, person):
    app = make_app([GH_READ])
    grant(person, app, [GH_READ])
    code, verifier = code_for(client, app, [GH_READ])
    tokens = exchange(client, app, code, verifier).json()
    assert tokens["expires_in"] == settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]


def test_no_refresh_token_without_background(client, person):
    app = make_app([GH_READ, BACKGROUND])
    grant(person, app, [GH_READ])
    code, verifier = code_for(client, app, [GH_READ])
    tokens = exchange(client, app, code, verifier).json()
    assert "refresh_token" not in tokens
    assert not get_refresh_token_model().objects.exists()


def _background_tokens(client, person, app, scopes, **grant_kwargs):
    g = grant(person, app, [*scopes, BACKGROUND], **grant_kwargs)
    code, verifier = code_for(client, app, [*scopes, BACKGROUND])
    tokens = exchange(client, app, code, verifier).json()
    assert tokens["refresh_token"]
    return g, tokens


def test_refresh_follows_a_narrowed_grant(client, person):
    app = make_app([GH_READ, GH_WRITE, BACKGROUND])
    g, tokens = _background_tokens(client, person, app, [GH_READ, GH_WRITE])
    services.grant_narrow(grant=g, actor=person, remove_scopes=[GH_WRITE], reason="narrow")
    refreshed = refresh(client, app, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert set(refreshed.json()["scope"].split()) == {GH_READ, BACKGROUND}


def test_refresh_cannot_ask_for_more_than_the_grant_now_holds(client, person):
    app = make_app([GH_READ, GH_WRITE, BACKGROUND])
    g, tokens = _background_tokens(client, person, app, [GH_READ, GH_WRITE])
    services.grant_narrow(grant=g, actor=person, remove_scopes=[GH_WRITE], reason="narrow")
    response = refresh(client, app, tokens["refresh_token"], scope=f"{GH_READ} {GH_WRITE}")
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_refresh_refused_once_background_is_taken_away(client, person):
    app = make_app([GH_READ, BACKGROUND])
    g, tokens = _background_tokens(client, person, app, [GH_READ])
    services.grant_narrow(grant=g, actor=person, remove_scopes=[BACKGROUND], reason="no bg")
    response = refresh(client, app, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_refresh_refused_after_revocation(client, person):
    app = make_app([GH_READ, BACKGROUND])
    g, tokens = _background_tokens(client, person, app, [GH_READ])
    services.grant_revoke(grant=g, actor=person, reason="bye")
    response = refresh(client, app, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not get_access_token_model().objects.filter(user=person).exists()


def test_refresh_refused_after_the_grant_expired_even_before_the_task_ran(client, person):
    app = make_app([GH_READ, BACKGROUND])
    g, tokens = _background_tokens(
        client, person, app, [GH_READ], expires_at=timezone.now() + timedelta(hours=1)
    )
    Grant.objects.filter(pk=g.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = refresh(client, app, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_refreshed_token_never_outlives_the_grant(client, person):
    app = make_app([GH_READ, BACKGROUND])
    g, tokens = _background_tokens(
        client, person, app, [GH_READ], expires_at=timezone.now() + timedelta(days=1)
    )
    Grant.objects.filter(pk=g.pk).update(expires_at=timezone.now() + timedelta(seconds=45))
    refreshed = refresh(client, app, tokens["refresh_token"]).json()
    assert 0 < refreshed["expires_in"] <= 45
    newest = get_access_token_model().objects.order_by("-pk").first()
    assert newest.expires <= Grant.objects.get().expires_at


def test_tokens_of_another_persons_grant_do_not_help(client, person):
    # A grant for someone else for the same app gives this person nothing.
    app = make_app([GH_READ])
    GrantFactory(user=UserFactory(), app=app, scopes=[GH_READ])
    _verifier, challenge = pkce_pair()
    response = client.get(authorize_url(app, [GH_READ], challenge=challenge))
    assert response.status_code == 200  # the screen, not a code
