"""End to end: a scope narrowed to a GitHub organisation, chosen on the real consent screen from
the real listing (the sandbox over real HTTP), stored, then enforced by the broker.

Before one canonicaliser per kind, consent stored ``octo-demo`` and the broker turned every
organisation into ``None``, so every call was refused (issue 13).
"""

import secrets

import pytest
from django.utils import timezone

from consent.models import Grant
from tests.consent.helpers import approve, authorize_url, exchange, make_app, pkce_pair, query_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORGS = "services.github.organisations.read"


@pytest.fixture
def sandboxed(live_server, settings):
    from django.core.cache import cache

    from connections.demo import seed_sandbox

    settings.SANDBOX_BASE_URL = live_server.url
    settings.SANDBOX_ENABLED = True
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "apps_registry.hashers.ClientSecretHasher",
    ]
    cache.clear()
    seed_sandbox()
    yield live_server
    from connections.outbound import close_session

    close_session()


def _connection(user, scopes):
    from connections import vault
    from connections.models import Connection
    from connections.providers import sandbox_client_credentials
    from connections.sandbox.models import SandboxAccount
    from connections.sandbox.oauth import _issue

    account = SandboxAccount.objects.get(flavour="sandbox_github", uid="583231")
    issued = _issue(
        "sandbox_github",
        account,
        sandbox_client_credentials("sandbox_github")[0],
        list(scopes),
        secrets.token_hex(8),
    )
    return Connection.objects.create(
        user=user,
        provider="sandbox_github",
        provider_account_id="583231",
        login=account.login,
        scopes=list(scopes),
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        token_expires_at=timezone.now() + timezone.timedelta(seconds=issued["expires_in"]),
        token_key_id=vault.current_key_id(),
    )


def test_an_organisation_chosen_on_the_consent_screen_is_allowed_by_the_broker(client, sandboxed):
    user = UserFactory()
    client.force_login(user)
    _connection(user, ("read:org", "read:user"))
    app = make_app([ORGS])
    verifier, challenge = pkce_pair()
    screen = client.get(authorize_url(app, [ORGS], challenge=challenge))
    assert screen.status_code == 200
    assert "octo-demo" in screen.content.decode()  # the real listing, through the provider
    response = approve(client, screen, resources={ORGS: ["octo-demo"]})
    assert response.status_code == 302, response.content
    grant = Grant.objects.get(user=user, app=app)
    assert [r["id"] for r in grant.resources[ORGS]] == ["octo-demo"]

    token = exchange(client, app, query_of(response["Location"])["code"], verifier).json()
    client.logout()
    listed = client.get("/api/v1/github/orgs", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    assert listed.status_code == 200, listed.content
    assert [o["login"] for o in listed.json()["items"]] == ["octo-demo"]


def test_an_organisation_not_selected_is_filtered_out(client, sandboxed):
    user = UserFactory()
    client.force_login(user)
    _connection(user, ("read:org", "read:user"))
    app = make_app([ORGS])
    verifier, challenge = pkce_pair()
    screen = client.get(authorize_url(app, [ORGS], challenge=challenge))
    response = approve(client, screen, resources={ORGS: ["octo-demo"]})
    grant = Grant.objects.get(user=user, app=app)
    grant.resources = {ORGS: [{"id": "someone-else", "label": "someone-else"}]}
    grant.save()
    token = exchange(client, app, query_of(response["Location"])["code"], verifier).json()
    client.logout()
    listed = client.get("/api/v1/github/orgs", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    assert listed.status_code == 200 and listed.json()["items"] == []
