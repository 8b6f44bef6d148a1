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
    assert "it may act while you are away" in html
    assert "Acme Notes read repository octo/docs, in the background" in html
    grant_last_used = AuditEvent.objects.get(action=Action.API_CALL).occurred_at
    assert timezone.localtime(grant_last_used).strftime("%-d %b %Y, %H:%M") in html


def test_an_app_that_registered_itself_is_marked_so(signed_in_client, user):
    _, _, (grant,) = make_access(user, name="Loopback agent")
    client = grant.app.client
    client.registration_source = client.RegistrationSource.DCR
    client.save(update_fields=["registration_source"])
    html = signed_in_client.get("/access/").content.decode()
    row = html[html.index(f'data-grant="{grant.pk}"') :]
    row = row[: row.index("</th>")]
    assert "Unverified, registered by the client itself" in row
    assert "Not verified" not in row


def _cell(html, key):
    start = html.index(f'data-cell="{key}"')
    return html[start : html.index("</td>", start)]


def test_grid_cells_show_access_resources_and_last_use_per_service(signed_in_client, user):
    _github, _slack, (grant,) = make_access(user)
    html = signed_in_client.get("/access/").content.decode()
    github_cell, slack_cell = _cell(html, f"{grant.pk}-github"), _cell(html, f"{grant.pk}-slack")
    assert 'class="badge read"' in github_cell and "octo/docs" in github_cell
    assert "#general" in slack_cell and "octo/docs" not in slack_cell
    used = timezone.localtime(AuditEvent.objects.get(action=Action.API_CALL).occurred_at)
    assert f'cell-last-use">{used:%-d %b %Y, %H:%M}<' in github_cell
    assert 'cell-last-use">never<' in slack_cell  # GitHub was used, Slack never


def test_removing_one_cell_keeps_the_other_services(signed_in_client, user):
    _github, _slack, (grant,) = make_access(user)
    url = f"/access/apps/{grant.pk}/services/slack/revoke/"
    assert signed_in_client.post(url).status_code == 302  # not confirmed: nothing changes
    grant.refresh_from_db()
    assert SL_READ in grant.scopes
    signed_in_client.post(url, {"confirmed": "yes"})
    grant.refresh_from_db()
    assert SL_READ not in grant.scopes and GH_READ in grant.scopes and grant.revoked_at is None
    # Its last service: the whole access ends, and the app appears under "past apps".
    signed_in_client.post(f"/access/apps/{grant.pk}/services/github/revoke/", {"confirmed": "yes"})
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    html = signed_in_client.get("/access/").content.decode()
    past = html[html.index('id="past-apps"') :]
    assert "Acme Notes" in past and "access ended" in past


def test_polls_are_not_shown_and_repeats_are_coalesced(signed_in_client, user):
    _github, _slack, (grant,) = make_access(user)
    for _ in range(5):
        record_event(
            Action.API_CALL,
            actor_type=ActorType.APP,
            grant=grant,
            metadata={"operation": "platform.action", "status": 200},
        )
    for _ in range(3):
        record_event(
            Action.API_CALL,
            actor_type=ActorType.APP,
            grant=grant,
            service="github",
            scope=GH_READ,
            resource="octo/docs",
        )
    html = signed_in_client.get("/access/").content.decode()
    activity = html[html.index('id="activity"') :]
    assert "checked on an action" not in activity
    assert "Acme Notes read repository octo/docs <span" in activity and "(3 times)" in activity
    assert "<h3>Today</h3>" in activity


def test_digest_counts_background_work_and_refusals_since_the_last_visit(signed_in_client, user):
    _github, _slack, (grant,) = make_access(user)  # one background GitHub read
    record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        service="slack",
        scope=SL_READ,
        resource="C0999ZZZ",
        outcome="denied",
        reason="This channel was not selected.",
        background=True,
    )
    html = signed_in_client.get("/access/").content.decode()
    digest = html[html.index('id="digest"') : html.index('id="apps"')]
    assert "2</strong> background calls" not in digest
    assert "1</strong> background call, <strong>1</strong> refused" in digest
    assert "1 call in the background" in digest and "1 refused" in digest
    assert "This channel was not selected." in digest
    # Reloading keeps the same window...
    assert "1 refused" in signed_in_client.get("/access/").content.decode()
    # ...and the next visit starts from this one: nothing new happened since.
    session = signed_in_client.session
    session.pop("access.digest_since", None)
    session.save()
    html = signed_in_client.get("/access/").content.decode()
    assert 'id="digest-empty"' in html


def test_times_are_shown_in_the_persons_time_zone(signed_in_client, user):
    make_access(user)
    type(user).objects.filter(pk=user.pk).update(time_zone="Asia/Tokyo")
    html = signed_in_client.get("/access/").content.decode()
    assert "Times are in Asia/Tokyo" in html
    used = AuditEvent.objects.get(action=Action.API_CALL).occurred_at
    from zoneinfo import ZoneInfo

    assert used.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%-d %b %Y, %H:%M") in html


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
    assert with_fifty <= 12  # + the digest query and the last-visit update


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
    assert "Acme Notes" not in html.split('id="apps"')[1].split('id="connections"')[0]
    # It moves to "past apps", with when and why.
    assert "Revoked from Your access" in html.split('id="past-apps"')[1]


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
    assert describe(event) == "Acme Notes read repository octo/docs, in the background"
    write = record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        service="slack",
        scope="services.slack.messages.write",
        resource="C0123ABC",
    )
    assert describe(write) == "Acme Notes posted in channel C0123ABC"
    revoked = record_event(
        Action.GRANT_REVOKED, actor_type=ActorType.PERSON, actor_user=grant.user, grant=grant
    )
    assert describe(revoked, viewer=grant.user) == "You: access revoked for Acme Notes"
    poll = record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        metadata={"operation": "platform.action", "status": 200},
    )
    assert describe(poll) == "Acme Notes checked on an action waiting for you"


def test_a_write_let_through_by_a_standing_approval_says_so():
    grant = GrantFactory(app=AppFactory(name="Acme Notes"))
    event = record_event(
        Action.PENDING_ACTION_APPROVED,
        actor_type=ActorType.SYSTEM,
        grant=grant,
        service="github",
        scope="services.github.repositories.write",
        resource="octo/docs",
        metadata={"standing_approval": 7, "pending_action": 1},
    )
    assert describe(event) == (
        "Acme Notes changed repository octo/docs: approved by your 24-hour approval"
    )
