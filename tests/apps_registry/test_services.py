from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.utils import timezone
from oauth2_provider.models import AccessToken

from apps_registry.hashers import ClientSecretHasher
from apps_registry.models import App, AppScope, OAuthClient, Publisher
from apps_registry.services import (
    RegistryError,
    app_add_redirect_uri,
    app_register,
    app_remove_redirect_uri,
    app_rotate_secret,
    app_suspend,
    app_unsuspend,
    app_update,
    app_verify,
    validate_redirect_uri,
)
from audit.actions import Action
from audit.models import AuditEvent
from tests.apps_registry.helpers import BACKGROUND, GITHUB, PROFILE, TOKEN_URL, basic, register
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def cc(client, app, secret):
    return client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": PROFILE},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )


def test_register_creates_publisher_client_app_and_scopes():
    owner = UserFactory(name="Ada")
    reg = app_register(
        owner=owner,
        name="Acme Notes",
        redirect_uris=["https://notes.example.com/cb"],
        scopes={PROFILE: True, GITHUB: False},
        homepage_url="https://notes.example.com/",
    )
    app = reg.app
    assert app.publisher.owner == owner and app.publisher.name == "Ada"
    assert app.client.client_type == "confidential"
    assert {(s.scope, s.required) for s in app.allowed_scopes.all()} == {
        (PROFILE, True),
        (GITHUB, False),
    }
    assert check_password(reg.client_secret, OAuthClient.objects.get().client_secret)
    assert AuditEvent.objects.filter(action=Action.APP_REGISTERED, app=app).exists()
    # A second app reuses the publisher.
    second = app_register(
        owner=owner,
        name="Two",
        redirect_uris=["https://two.example.com/cb"],
        scopes={PROFILE: True},
    )
    assert second.app.publisher == app.publisher
    assert Publisher.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scopes": {"nope.scope": True}}, "Unknown scope"),
        ({"scopes": {}}, "at least one scope"),
        ({"scopes": {BACKGROUND: False}}, "background access"),
        ({"redirect_uris": []}, "at least one redirect URI"),
        ({"redirect_uris": ["http://example.com/cb"]}, "https"),
        ({"redirect_uris": ["https://*.example.com/cb"]}, "Wildcards"),
        ({"redirect_uris": ["https://example.com/cb#x"]}, "fragment"),
        ({"name": " "}, "needs a name"),
        ({"client_type": "public", "allow_client_credentials": True}, "confidential"),
    ],
)
def test_register_refuses_bad_input_and_changes_nothing(kwargs, message):
    base = {
        "owner": UserFactory(),
        "name": "X",
        "redirect_uris": ["https://x.example.com/cb"],
        "scopes": {PROFILE: True},
    }
    with pytest.raises(RegistryError, match=message):
        app_register(**{**base, **kwargs})
    assert not App.objects.exists() and not OAuthClient.objects.exists()
    assert not Publisher.objects.exists()


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb",
        "http://127.0.0.1:8765/callback",
        "http://127.0.0.1/callback",
        "http://[::1]:9000/cb",
    ],
)
def test_valid_redirect_uris(uri):
    assert validate_redirect_uri(uri) == uri


def test_public_client_has_no_secret():
    app, secret = register(client_type="public")
    assert secret == ""
    with pytest.raises(RegistryError):
        app_rotate_secret(app=app, actor=app.publisher.owner)


def test_rotated_secret_keeps_the_old_one_for_the_grace_period(client):
    app, old = register()
    new = app_rotate_secret(app=app, actor=app.publisher.owner, grace=timedelta(hours=1))
    assert new != old
    assert cc(client, app, new).status_code == 200
    assert cc(client, app, old).status_code == 200  # deployments can roll
    OAuthClient.objects.update(previous_client_secret_expires_at=timezone.now())
    response = cc(client, app, old)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert cc(client, app, new).status_code == 200
    client_row = OAuthClient.objects.get()
    assert client_row.previous_client_secret.startswith("client_secret_hmac_sha256$")
    assert AuditEvent.objects.filter(action=Action.APP_SECRET_ROTATED, app=app).exists()


def test_rotation_without_grace_ends_the_old_secret_at_once(client):
    app, old = register()
    new = app_rotate_secret(app=app, actor=app.publisher.owner, grace=timedelta(0))
    assert cc(client, app, old).status_code == 401
    assert cc(client, app, new).status_code == 200


def test_redirect_uris_add_and_remove():
    app, _ = register()
    owner = app.publisher.owner
    app_add_redirect_uri(app=app, actor=owner, uri="http://127.0.0.1:8765/callback")
    assert app.client.redirect_uris.split() == [
        "https://app.example.com/callback",
        "http://127.0.0.1:8765/callback",
    ]
    with pytest.raises(RegistryError, match="already"):
        app_add_redirect_uri(app=app, actor=owner, uri="http://127.0.0.1:8765/callback")
    app_remove_redirect_uri(app=app, actor=owner, uri="https://app.example.com/callback")
    with pytest.raises(RegistryError, match="at least one"):
        app_remove_redirect_uri(app=app, actor=owner, uri="http://127.0.0.1:8765/callback")
    assert OAuthClient.objects.get().redirect_uris == "http://127.0.0.1:8765/callback"


def test_update_changes_scopes_and_records_what_changed():
    app, _ = register()
    app_update(app=app, actor=app.publisher.owner, description="New", scopes={PROFILE: True})
    assert list(AppScope.objects.values_list("scope", flat=True)) == [PROFILE]
    event = AuditEvent.objects.filter(action=Action.APP_UPDATED).latest("id")
    assert set(event.metadata["changed"]) == {"description", "scopes"}


def test_suspend_needs_a_reason_and_unsuspend_restores(client):
    app, secret = register()
    staff = UserFactory(is_staff=True)
    assert cc(client, app, secret).status_code == 200
    with pytest.raises(RegistryError):
        app_suspend(app=app, actor=staff, reason="  ")
    app_suspend(app=app, actor=staff, reason="Abuse")
    assert not AccessToken.objects.exists()
    assert cc(client, app, secret).status_code == 401
    app_unsuspend(app=app, actor=staff)
    assert cc(client, app, secret).status_code == 200
    assert AuditEvent.objects.filter(action=Action.APP_UNSUSPENDED, app=app).exists()


def test_only_staff_verify():
    app, _ = register()
    with pytest.raises(PermissionError):
        app_verify(app=app, actor=app.publisher.owner)
    app_verify(app=app, actor=UserFactory(is_staff=True))
    app.refresh_from_db()
    assert app.verified
    assert AuditEvent.objects.filter(action=Action.APP_VERIFIED, app=app).exists()


def test_client_secret_hasher_round_trip():
    hasher = ClientSecretHasher()
    encoded = make_password("s" * 64, hasher="client_secret_hmac_sha256")
    assert encoded.startswith("client_secret_hmac_sha256$")
    assert hasher.verify("s" * 64, encoded)
    assert not hasher.verify("s" * 63, encoded)
    assert not hasher.verify("s" * 64, encoded[:-1] + ("0" if encoded[-1] != "0" else "1"))
    # Salted: the same secret hashes differently twice.
    assert make_password("s" * 64, hasher="client_secret_hmac_sha256") != encoded
    assert check_password("s" * 64, encoded)


def test_used_codes_are_forgotten_after_their_time(client):
    from apps_registry.models import UsedAuthorizationCode
    from apps_registry.services import used_codes_forget
    from tests.apps_registry.helpers import exchange, get_code

    app, secret = register()
    code, verifier = get_code(client, app, UserFactory())
    assert exchange(client, app, secret, code, verifier).status_code == 200
    used = UsedAuthorizationCode.objects.get()
    assert code not in used.code_checksum
    assert used_codes_forget() == 0
    assert used_codes_forget(now=used.forget_after + timedelta(seconds=1)) == 1


def test_bearer_tokens_of_a_suspended_app_are_refused(client):
    from oauthlib.common import Request

    from apps_registry.oauth import PlatformOAuth2Validator
    from tests.apps_registry.helpers import exchange, get_code

    app, secret = register()
    token = exchange(client, app, secret, *get_code(client, app, UserFactory())).json()
    validator = PlatformOAuth2Validator()
    assert validator.validate_bearer_token(token["access_token"], [PROFILE], Request("/"))
    # Suspended without the service (a token issued in the same instant survives the sweep).
    App.objects.filter(pk=app.pk).update(suspended_at=timezone.now())
    request = Request("/")
    assert not validator.validate_bearer_token(token["access_token"], [PROFILE], request)
    assert request.access_token is None
