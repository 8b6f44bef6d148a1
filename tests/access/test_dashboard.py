import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.selectors import describe
from audit.actions import Action, ActorType, Outcome
from audit.models import AuditEvent
from audit.services import record_event
from consent.models import Grant
from tests.factories import (
    AppFactory,
    ConnectionFactory,
    GrantFactory,
    PublisherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

GH_READ = "services.github.repositories.read"
SL_READ = "services.slack.channels.read"
BACKGROUND = "agents.jobs.background"


def make_access(user, *, apps=1, name="Acme Notes"):
    github = ConnectionFactory(user=user, provider="sandbox_github", login="octo", scopes=["repo"])
    slack = ConnectionFactory(
        user=user,
        provider="sandbox_slack",
        login="T1",
        scopes=["channels:read", "channels:history"],
    )
    grants = []
    publisher = PublisherFactory(owner=user)  # one owner: no password hashing per app
    for n in range(apps):
        # No PBKDF2 (a million rounds) per app: client authentication is not what is tested here.
        app = AppFactory(
            name=name if n == 0 else f"{name} {n}",
            client__hash_client_secret=False,
            client__user=user,
            publisher=publisher,
        )
        grant = GrantFactory(
            user=user,
            app=app,
            scopes=["identity.profile.read", GH_READ, SL_READ, BACKGROUND],
            connections={"github": github.pk, "slack": slack.pk},
            resources={
                GH_READ: [
                    {"id": "octo/docs", "label": "octo/docs"},
                    {"id": "octo/site", "label": "octo/site"},
                ],
                SL_READ: [{"id": "C0123ABC", "label": "#general"}],
            },
        )
        record_event(
            Action.API_CALL,
            actor_type=ActorType.APP,
            grant=grant,
            service="github",
            scope=GH_READ,
            resource="octo/docs",
            background=True,
        )
        grants.append(grant)
    return github, slack, grants


def test_dashboard_needs_sign_in(client):
    response = client.get("/access/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_dashboard_shows_connections_apps_resources_background_and_last_use(signed_in_client, user):
    make_access(user)
    html = signed_in_client.get("/access/").content.decode()
    assert "octo" in html and "sandbox" in html and "repo" in html  # connection, badge, scopes held
    assert "Acme Notes" in html
    assert "Read selected GitHub repositories" in html  # the catalog's sentence, not the name
    assert "octo/docs" in html and "#general" in html
    assert "Yes: it may act while you are away" in html
    assert "Acme Notes read repository octo/docs at" in html and "in the background" in html
    grant_last_used = AuditEvent.objects.get(action=Action.API_CALL).occurred_at
    assert timezone.localtime(grant_last_used).strftime("%Y-%m-%d %H:%M") in html


def test_other_peoples_access_is_not_shown(signed_in_client, user):
    make_access(UserFactory(), name="Someone Else's App")
    html = signed_in_client.get("/access/").content.decode()
    assert "Someone Else" not in html and "No app has access" in html


def _count_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/access/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_dashboard_query_count_is_constant_with_1_and_50_apps(client):
    one, many = UserFactory(), UserFactory()
    make_access(one, apps=1)
    make_access(many, apps=50)
    client.force_login(one)
    with_one = _count_queries(client)
    client.force_login(many)
    with_fifty = _count_queries(client)
    assert with_one == with_fifty
    assert with_fifty <= 10


def test_revoke_confirmation_says_exactly_what_stops_working(signed_in_client, user):
    github, _slack, grants = make_access(user, apps=2)
    html = signed_in_client.get(f"/access/connection/{github.pk}/revoke/").content.decode()
    assert "Acme Notes</strong> loses GitHub" in html
    assert "Acme Notes 1</strong> loses GitHub" in html
    html = signed_in_client.get(f"/access/app/{grants[0].pk}/revoke/").content.decode()
    assert "Acme Notes</strong> loses all access: GitHub, Slack" in html
    assert "Acme Notes 1" not in html
    html = signed_in_client.get(f"/access/app-and-services/{grants[0].pk}/revoke/").content.decode()
    assert "Acme Notes</strong> loses all access" in html
    assert "Acme Notes 1</strong> loses GitHub, Slack" in html
    # Looking changes nothing.
    assert not Grant.objects.filter(revoked_at__isnull=False).exists()


def test_revoking_an_app_revokes_its_grant_and_records_it(signed_in_client, user):
    _github, _slack, (grant,) = make_access(user)
    response = signed_in_client.post(f"/access/app/{grant.pk}/revoke/", {"confirm": "on"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    event = AuditEvent.objects.get(action=Action.GRANT_REVOKED)
    assert event.grant_id == grant.pk and event.actor_user_id == user.pk
    assert event.actor_type == "person" and event.subject_user_id == user.pk
    html = signed_in_client.get("/access/").content.decode()
    assert "Acme Notes no longer has access." in html
    assert "Acme Notes" not in html.split('id="apps"')[1].split('id="activity"')[0]


def test_revoke_needs_post_and_csrf(client, user):
    _github, _slack, (grant,) = make_access(user)
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert csrf_client.post(f"/access/app/{grant.pk}/revoke/", {"confirm": "on"}).status_code == 403
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_someone_elses_grant_or_connection_is_404_and_untouched(signed_in_client):
    other = UserFactory()
    github, _slack, (grant,) = make_access(other)
    for url in (
        f"/access/app/{grant.pk}/revoke/",
        f"/access/connection/{github.pk}/revoke/",
        f"/access/app-and-services/{grant.pk}/revoke/",
        f"/access/apps/{grant.pk}/narrow/",
        f"/access/bogus/{grant.pk}/revoke/",
    ):
        assert signed_in_client.post(url, {"confirm": "on"}).status_code == 404
    grant.refresh_from_db()
    github.refresh_from_db()
    assert grant.revoked_at is None and github.status == "active"


def test_revoking_a_connection_disconnects_it(signed_in_client, user, monkeypatch):
    github, _slack, _grants = make_access(user)
    from connections import services

    # The provider-side revocation is the connections layer's (tested there); no network here.
    monkeypatch.setattr(services.token_client, "revoke", lambda *a, **k: None)
    response = signed_in_client.post(f"/access/connection/{github.pk}/revoke/", {"confirm": "on"})
    assert response.status_code == 302
    github.refresh_from_db()
    assert github.status == "revoked" and github.access_token is None
    event = AuditEvent.objects.get(action=Action.CONNECTION_REVOKED)
    assert event.subject_user_id == user.pk and event.actor_user_id == user.pk


def test_narrowing_removes_only_what_was_ticked(signed_in_client, user):
    _github, _slack, (grant,) = make_access(user)
    page = signed_in_client.get(f"/access/apps/{grant.pk}/narrow/").content.decode()
    assert "Keep access while you are away" in page and "octo/site" in page
    response = signed_in_client.post(
        f"/access/apps/{grant.pk}/narrow/",
        {"remove_scopes": [BACKGROUND], "remove_resources": [f"{GH_READ}|octo/site"]},
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert BACKGROUND not in grant.scopes and GH_READ in grant.scopes and SL_READ in grant.scopes
    assert [r["id"] for r in grant.resources[GH_READ]] == ["octo/docs"]
    assert grant.revoked_at is None
    event = AuditEvent.objects.get(action=Action.GRANT_CHANGED)
    assert event.grant_id == grant.pk and event.actor_user_id == user.pk


def test_narrowing_with_nothing_ticked_or_unknown_items_changes_nothing(signed_in_client, user):
    _github, _slack, (grant,) = make_access(user)
    before = (list(grant.scopes), dict(grant.resources))
    for data in (
        {},
        {"remove_scopes": ["services.slack.messages.write"]},
        {"remove_resources": ["x|y"]},
    ):
        response = signed_in_client.post(f"/access/apps/{grant.pk}/narrow/", data)
        assert response.status_code == 200
    grant.refresh_from_db()
    assert (grant.scopes, grant.resources) == before
    assert not AuditEvent.objects.filter(action=Action.GRANT_CHANGED).exists()


def test_activity_filters_by_app_service_and_time(signed_in_client, user):
    _github, _slack, grants = make_access(user, apps=2)
    record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grants[1],
        service="slack",
        scope=SL_READ,
        resource="C0123ABC",
        outcome=Outcome.DENIED,
        reason="resource_not_granted",
    )
    html = signed_in_client.get(f"/access/?app={grants[1].app_id}").content.decode()
    activity = html.split("Your activity")[1]
    assert "Acme Notes 1 read channel C0123ABC" not in activity  # it was refused
    assert "Acme Notes 1 was refused: read channel C0123ABC" in activity
    assert "Acme Notes read repository" not in activity
    activity = (
        signed_in_client.get("/access/?service=github").content.decode().split("Your activity")[1]
    )
    assert "C0123ABC" not in activity and "repository octo/docs" in activity
    tomorrow = (timezone.now() + dt.timedelta(days=1)).date().isoformat()
    activity = (
        signed_in_client.get(f"/access/?since={tomorrow}")
        .content.decode()
        .split("Your activity")[1]
    )
    assert "Nothing yet" in activity
    bad = signed_in_client.get("/access/?since=2026-02-01&until=2026-01-01").content.decode()
    assert "The end date is before the start date." in bad


def test_plain_language_lines():
    app = AppFactory(name="Acme Notes")
    grant = GrantFactory(app=app)
    event = record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        service="github",
        scope=GH_READ,
        resource="octo/docs",
        background=True,
    )
    at = timezone.localtime(event.occurred_at).strftime("%H:%M")
    assert describe(event) == f"Acme Notes read repository octo/docs at {at}, in the background"
    write = record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        service="slack",
        scope="services.slack.messages.write",
        resource="C0123ABC",
    )
    assert describe(write).startswith("Acme Notes posted in channel C0123ABC at ")
    revoked = record_event(
        Action.GRANT_REVOKED, actor_type=ActorType.PERSON, actor_user=grant.user, grant=grant
    )
    assert describe(revoked, viewer=grant.user).startswith("You: access revoked for Acme Notes at ")
    poll = record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        metadata={"operation": "platform.action", "status": 200},
    )
    assert describe(poll).startswith("Acme Notes checked on an action waiting for you at ")
