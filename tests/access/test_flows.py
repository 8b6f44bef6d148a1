"""Events recorded by the flows of other layers, as far as they exist, and revocation end to end
through the broker (test client; the browser versions are in test_browser.py)."""

import json

import pytest

from audit.actions import Action
from audit.models import AuditEvent
from tests.access.helpers import issue_token
from tests.access.test_dashboard import BACKGROUND, GH_READ, make_access

pytestmark = pytest.mark.django_db

PROFILE = "identity.profile.read"


def _me(client, token):
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_revoked_app_is_refused_by_the_broker_on_its_next_call(client, user):
    _github, _slack, (grant,) = make_access(user)
    token = issue_token(app=grant.app, user=user, scopes=grant.scopes)
    first = _me(client, token)
    assert first.status_code == 200, first.content
    call = AuditEvent.objects.filter(action=Action.API_CALL, grant=grant).order_by("-id").first()
    assert call.scope == PROFILE and call.actor_type == "app" and call.outcome == "success"
    assert token not in json.dumps(list(AuditEvent.objects.values()), default=str)

    client.force_login(user)
    assert client.post(f"/access/app/{grant.pk}/revoke/", {"confirm": "on"}).status_code == 302
    client.logout()
    refused = _me(client, token)
    assert refused.status_code in (401, 403)
    assert refused.json()["error"]["code"] in ("invalid_token", "grant_revoked")


def test_narrowed_grant_keeps_the_rest_working(client, user):
    _github, _slack, (grant,) = make_access(user)
    token = issue_token(app=grant.app, user=user, scopes=grant.scopes)
    client.force_login(user)
    response = client.post(
        f"/access/apps/{grant.pk}/narrow/",
        {"remove_scopes": [GH_READ, BACKGROUND]},
    )
    assert response.status_code == 302
    client.logout()
    assert _me(client, token).status_code == 200  # the profile scope still works
    refused = client.get("/api/v1/github/repos", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    denied = AuditEvent.objects.filter(action=Action.API_CALL, outcome="denied").first()
    assert denied is not None and denied.grant_id == grant.pk


def test_resource_dropped_from_a_grant_is_refused(client, user):
    _github, _slack, (grant,) = make_access(user)
    token = issue_token(app=grant.app, user=user, scopes=grant.scopes)
    client.force_login(user)
    client.post(f"/access/apps/{grant.pk}/narrow/", {"remove_resources": [f"{GH_READ}|octo/site"]})
    client.logout()
    refused = client.get("/api/v1/github/repos/octo/site", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "resource_not_granted"


def test_app_registration_and_secret_rotation_are_recorded(user):
    from apps_registry.services import app_register, app_rotate_secret

    reg = app_register(
        owner=user,
        name="Recorder",
        client_type="confidential",
        redirect_uris=["https://rec.example.com/cb"],
        scopes={PROFILE: True},
        allow_client_credentials=False,
        may_request_background=False,
    )
    event = AuditEvent.objects.get(action=Action.APP_REGISTERED)
    assert event.app_id == reg.app.pk and event.actor_user_id == user.pk
    rotated = app_rotate_secret(app=reg.app, actor=user)
    secret = getattr(rotated, "client_secret", None) or ""
    event = AuditEvent.objects.get(action=Action.APP_SECRET_ROTATED)
    assert event.app_id == reg.app.pk
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert reg.client_secret not in dumped
    if secret:
        assert secret not in dumped


def test_token_issue_and_background_job_check_are_recorded_without_the_token(client, user):
    from tests.apps_registry.helpers import basic, register

    app, secret = register(
        owner=user, scopes={PROFILE: True, GH_READ: True, BACKGROUND: True}, name="Nightly"
    )
    from tests.factories import GrantFactory

    grant = GrantFactory(user=user, app=app, scopes=[PROFILE, GH_READ, BACKGROUND])
    response = client.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": GH_READ},
        HTTP_AUTHORIZATION=basic(app.client.client_id, secret),
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    issued = AuditEvent.objects.filter(action=Action.TOKEN_ISSUED, app=app).order_by("-id").first()
    assert issued is not None and issued.outcome == "success"

    check = client.post(
        "/api/v1/jobs/check",
        {"job": "nightly-sync", "grant": grant.pk, "scopes": [GH_READ]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert check.status_code == 200, check.content
    event = AuditEvent.objects.filter(action=Action.BACKGROUND_JOB_CHECKED).get()
    assert event.grant_id == grant.pk and event.subject_user_id == user.pk
    assert event.background is True and event.outcome == "success"
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert token not in dumped and secret not in dumped
