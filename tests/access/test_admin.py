import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.actions import Action, ActorType, Outcome
from audit.models import AuditEvent
from audit.services import record_event
from consent.models import Grant
from tests.factories import AppFactory, GrantFactory, PublisherFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/audit/auditevent/"
GRANTS = "/admin/consent/grant/"


def _apps(n, owner):
    publisher = PublisherFactory(owner=owner)
    return [
        AppFactory(
            name=f"App {i}",
            publisher=publisher,
            client__user=owner,
            client__hash_client_secret=False,
        )
        for i in range(n)
    ]


def _populate(n_apps):
    owner = UserFactory()
    people = [UserFactory() for _ in range(3)]
    for i, app in enumerate(_apps(n_apps, owner)):
        grant = GrantFactory(
            user=people[i % 3], app=app, scopes=["services.github.repositories.read"]
        )
        record_event(
            Action.API_CALL, actor_type=ActorType.APP, grant=grant, service="github",
            scope="services.github.repositories.read", resource=f"octo/repo{i}",
        )  # fmt: skip
    return people


def test_audit_events_are_read_only_for_superusers(staff_client):
    event = record_event(Action.SIGNED_IN, actor_type=ActorType.PERSON)
    assert staff_client.get(LIST).status_code == 200
    assert staff_client.get(f"{LIST}{event.pk}/change/").status_code == 200  # view only
    assert staff_client.get(f"{LIST}add/").status_code == 403
    assert staff_client.post(f"{LIST}{event.pk}/change/", {"reason": "x"}).status_code == 403
    assert staff_client.post(f"{LIST}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    response = staff_client.post(
        LIST, {"action": "delete_selected", "_selected_action": [event.pk]}
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    html = staff_client.get(LIST).content.decode()
    assert "delete_selected" not in html
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("url", [LIST, GRANTS])
def test_admin_lists_run_a_constant_number_of_queries(client, staff_user, url):
    client.force_login(staff_user)
    _populate(1)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _populate(50)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(few.captured_queries) == len(many.captured_queries)


def test_audit_list_never_counts_the_whole_table(staff_client):
    record_event(Action.SIGNED_IN)
    with CaptureQueriesContext(connection) as ctx:
        staff_client.get(LIST)
    sql = " ".join(q["sql"] for q in ctx.captured_queries if "audit_auditevent" in q["sql"])
    assert "DISTINCT" not in sql.upper()  # no SELECT DISTINCT for the date hierarchy
    counts = [
        q["sql"]
        for q in ctx.captured_queries
        if "COUNT(" in q["sql"].upper() and "audit_auditevent" in q["sql"]
    ]
    assert counts and all("LIMIT" in q.upper() for q in counts)


def test_audit_list_filters_and_search(staff_client):
    people = _populate(3)
    record_event(
        Action.SIGNED_IN, actor_type=ActorType.PERSON, actor_user=people[0], subject_user=people[0]
    )
    record_event(Action.API_CALL, actor_type=ActorType.APP, subject_user=people[1], service="slack",
                 resource="C0123ABC", outcome=Outcome.DENIED)  # fmt: skip

    def rows(query):
        response = staff_client.get(LIST + query)
        assert response.status_code == 200, query
        return response.context["cl"].result_count

    assert rows("") == AuditEvent.objects.count() >= 5
    # (the staff member's own sign-in is recorded too: force_login sends user_logged_in)
    assert rows("?action=identity.signed_in") == 2
    assert rows("?outcome=denied") == 1
    assert rows("?service=slack") == 1
    assert rows("?actor_type=person") == 2
    app = AuditEvent.objects.filter(app_label="App 0").first().app_id
    assert rows(f"?app={app}") == 1
    assert rows(f"?q={people[0].email}") == 2  # the API call about them and their sign-in
    assert rows(f"?q={people[0].email.split('@')[0]}") >= 2  # beginning of an address
    assert rows("?q=octo/repo1") == 1
    assert rows("?q=C0123") == 1


def test_csv_export_of_the_filtered_view(staff_client):
    _populate(2)
    record_event(
        Action.API_CALL, actor_type=ActorType.APP, service="slack", resource='=HYPERLINK("x")'
    )
    response = staff_client.get(LIST + "export.csv?service=slack")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    table = list(csv.DictReader(io.StringIO(body)))
    assert len(table) == 1
    assert table[0]["resource"].startswith("'=")  # neutralised formula
    assert "hash" in table[0]


def test_csv_export_needs_staff(signed_in_client):
    response = signed_in_client.get(LIST + "export.csv")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_grant_admin_search_by_person_app_service_and_scope(staff_client):
    owner = UserFactory()
    apps = _apps(2, owner)
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    GrantFactory(
        user=alice,
        app=apps[0],
        scopes=["services.github.repositories.read"],
        connections={"github": 1},
    )
    GrantFactory(user=bob, app=apps[1], scopes=["services.slack.channels.read", "agents.jobs.background"],
                 connections={"slack": 2})  # fmt: skip

    def rows(query):
        response = staff_client.get(GRANTS + query)
        assert response.status_code == 200
        return sorted(g.user.email for g in response.context["cl"].result_list)

    assert rows("?q=alice") == ["alice@example.com"]
    assert rows("?q=App 1") == ["bob@example.com"]
    assert rows("?q=slack") == ["bob@example.com"]
    assert rows("?q=services.github.repositories.read") == ["alice@example.com"]
    assert rows("?scope=agents.jobs.background") == ["bob@example.com"]
    html = staff_client.get(GRANTS).content.decode()
    assert "services.github.repositories.read" in html


def test_bulk_revoke_requires_a_reason_and_is_recorded(staff_client, staff_user):
    owner = UserFactory()
    apps = _apps(3, owner)
    grants = [GrantFactory(app=app) for app in apps]
    selected = [grants[0].pk, grants[1].pk]
    step1 = staff_client.post(GRANTS, {"action": "revoke_selected", "_selected_action": selected})
    assert step1.status_code == 200 and b"Revoke these grants" in step1.content
    no_reason = staff_client.post(
        GRANTS,
        {"action": "revoke_selected", "_selected_action": selected, "apply": "1", "reason": "  "},
    )
    assert no_reason.status_code == 200 and b"This field is required" in no_reason.content
    assert not Grant.objects.filter(revoked_at__isnull=False).exists()
    done = staff_client.post(
        GRANTS,
        {
            "action": "revoke_selected",
            "_selected_action": selected,
            "apply": "1",
            "reason": "Abuse report #42",
        },
    )
    assert done.status_code == 302
    revoked = Grant.objects.filter(revoked_at__isnull=False)
    assert sorted(revoked.values_list("pk", flat=True)) == sorted(selected)
    assert set(revoked.values_list("revoke_reason", flat=True)) == {"Abuse report #42"}
    events = AuditEvent.objects.filter(action=Action.GRANT_REVOKED)
    assert events.count() == 2
    for event in events:
        assert event.actor_type == "staff" and event.actor_user_id == staff_user.pk
        assert event.reason == "Abuse report #42"


def test_grants_cannot_be_edited_or_deleted_in_the_admin(staff_client):
    grant = GrantFactory()
    assert staff_client.get(f"{GRANTS}{grant.pk}/change/").status_code == 200
    assert staff_client.post(f"{GRANTS}{grant.pk}/change/", {"scopes": "[]"}).status_code == 403
    assert staff_client.post(f"{GRANTS}{grant.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff_client.get(f"{GRANTS}add/").status_code == 403


def test_admin_names_and_grants_table_fit(staff_client):
    index = staff_client.get("/admin/").content.decode()
    assert "OAuth clients" in index and "O auth" not in index
    owner = UserFactory()
    (app,) = _apps(1, owner)
    GrantFactory(
        user=owner,
        app=app,
        scopes=["services.github.repositories.read", "agents.jobs.background"],
        connections={"github": 1},
    )
    html = staff_client.get(GRANTS).content.decode()
    # Scopes one per line, cells that wrap, and a results box that scrolls rather than cuts.
    assert "<code>github.repositories.read</code><br><code>agents.jobs.background</code>" in html
    assert "#changelist-form .results { overflow-x: auto; }" in html
