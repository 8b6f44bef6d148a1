"""The consent screen at /oauth/authorize/, through Django's test client."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from consent.models import Grant, GrantChange
from tests.consent.helpers import (
    BACKGROUND,
    CHANNELS,
    GH_READ,
    GH_WRITE,
    PROFILE,
    REDIRECT,
    REPOS,
    SLACK_READ,
    approve,
    authorize_url,
    exchange,
    fake_resources,
    github,
    make_app,
    pkce_pair,
    query_of,
    rid_of,
    slack,
)
from tests.factories import GrantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(client):
    user = UserFactory()
    client.force_login(user)
    return user


@pytest.fixture
def pkce():
    return pkce_pair()


def events(action):
    return list(AuditEvent.objects.filter(action=action))


# --- validation happens before anything else -------------------------------------------------------


def test_signed_out_person_is_sent_to_sign_in_first(client, pkce):
    app = make_app([GH_READ])
    response = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_unknown_client_is_a_page_not_a_redirect(client, person, pkce):
    app = make_app([GH_READ])
    url = authorize_url(app, [GH_READ], challenge=pkce[1]).replace(
        app.client.client_id, "no-such-client"
    )
    response = client.get(url)
    assert response.status_code == 400
    assert "Location" not in response
    assert b"cannot be completed" in response.content


def test_unregistered_redirect_uri_is_never_followed(client, person, pkce):
    app = make_app([GH_READ])
    response = client.get(
        authorize_url(app, [GH_READ], challenge=pkce[1], redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    assert "Location" not in response
    assert b"evil.example" not in response.content


def test_error_after_a_valid_redirect_uri_is_an_rfc6749_redirect(client, person, pkce):
    app = make_app([GH_READ])
    response = client.get(authorize_url(app, [GH_WRITE], challenge=pkce[1], state="s-9"))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(REDIRECT)
    assert query_of(location)["error"] == "invalid_scope"
    assert query_of(location)["state"] == "s-9"


def test_missing_pkce_is_refused(client, person):
    app = make_app([GH_READ])
    url = authorize_url(app, [GH_READ], challenge="x").replace("&code_challenge=x", "")
    url = url.replace("&code_challenge_method=S256", "")
    response = client.get(url)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert query_of(response["Location"])["error"] == "invalid_request"
    assert not Grant.objects.exists()


# --- the screen ----------------------------------------------------------------------------------


def test_screen_shows_app_publisher_scopes_grouped_and_read_write_apart(
    client, person, pkce, monkeypatch
):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, GH_WRITE], verified=True, privacy_policy_url="https://app.example/p")
    github(person)
    response = client.get(authorize_url(app, [GH_READ, GH_WRITE], challenge=pkce[1]))
    assert response.status_code == 200
    html = response.content.decode()
    assert app.name in html and app.publisher.name in html
    assert "Verified" in html and "https://app.example/p" in html
    assert 'id="service-github"' in html
    assert 'class="badge read"' in html and 'class="badge write"' in html
    assert "it will read and change your GitHub data on your behalf" in html  # what it does
    assert "waits for your approval on the Approvals page" in html
    for repo in REPOS:
        assert repo["label"] in html
    assert len(events(Action.CONSENT_SHOWN)) == 1


def test_screen_cannot_be_framed_and_has_csp(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    response = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_app_name_and_description_cannot_inject_markup(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app(
        [GH_READ],
        name='<script>alert("x")</script>',
        description='<img src=x onerror="alert(1)">',
    )
    app.publisher.name = "<b>Evil</b>"
    app.publisher.save()
    github(person)
    html = client.get(authorize_url(app, [GH_READ], challenge=pkce[1])).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>Evil</b>" not in html
    assert "&lt;script&gt;" in html


def test_unverified_app_says_so(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ], verified=False)
    github(person)
    assert b"Not verified" in client.get(authorize_url(app, [GH_READ], challenge=pkce[1])).content


def test_missing_connection_offers_connect_with_next_back_to_this_request(
    client, person, pkce, monkeypatch
):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, SLACK_READ])
    github(person)
    url = authorize_url(app, [GH_READ, SLACK_READ], challenge=pkce[1])
    response = client.get(url)
    html = response.content.decode()
    assert "Connect Slack" in html
    rid = rid_of(response)
    assert "/connections/connect/sandbox_slack/" in html
    assert f"next=%2Foauth%2Fauthorize%2F%3Frequest%3D{rid}" in html
    assert 'id="approve" disabled' in html
    # Coming back resumes the very same request.
    back = client.get(f"/oauth/authorize/?request={rid}")
    assert back.status_code == 302
    assert parse_qs(urlsplit(back["Location"]).query) == parse_qs(urlsplit(url).query)


def test_connection_without_provider_scopes_offers_upgrade(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    connection = github(person, scopes=("read:user",))
    html = client.get(authorize_url(app, [GH_READ], challenge=pkce[1])).content.decode()
    assert "Upgrade GitHub access" in html
    assert f"/connections/{connection.pk}/upgrade/?scopes=read%3Auser%2Crepo" in html


def test_unknown_resume_id_is_a_page(client, person):
    response = client.get("/oauth/authorize/?request=nope")
    assert response.status_code == 400 and "Location" not in response


def test_someone_elses_resume_id_does_not_work(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    rid = rid_of(client.get(authorize_url(app, [GH_READ], challenge=pkce[1])))
    other = Client()
    other.force_login(UserFactory())
    assert other.get(f"/oauth/authorize/?request={rid}").status_code == 400


# --- approving -----------------------------------------------------------------------------------


def test_approve_records_the_grant_and_returns_a_code_that_yields_tokens(
    client, person, pkce, monkeypatch
):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, BACKGROUND])
    connection = github(person)
    screen = client.get(authorize_url(app, [GH_READ, BACKGROUND], challenge=pkce[1]))
    response = approve(client, screen, resources={GH_READ: ["octo/repo1", "octo/repo3"]})
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert response["Location"].startswith(REDIRECT) and params["state"] == "st-1"
    grant = Grant.objects.get(user=person, app=app)
    # Background left off: not granted.
    assert grant.scopes == [GH_READ]
    assert grant.connections == {"github": connection.pk}
    assert [r["id"] for r in grant.resources[GH_READ]] == ["octo/repo1", "octo/repo3"]
    assert grant.duration == "forever" and grant.expires_at is None
    change = GrantChange.objects.get(grant=grant)
    assert change.before["scopes"] == [] and change.after["scopes"] == [GH_READ]
    assert len(events(Action.CONSENT_GRANTED)) == 1
    tokens = exchange(client, app, params["code"], pkce[0]).json()
    assert tokens["scope"] == GH_READ
    assert "refresh_token" not in tokens


def test_approve_with_background_on_issues_a_refresh_token(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, BACKGROUND])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ, BACKGROUND], challenge=pkce[1]))
    response = approve(client, screen, accept=[BACKGROUND], resources={GH_READ: ["octo/repo1"]})
    grant = Grant.objects.get(user=person, app=app)
    assert set(grant.scopes) == {GH_READ, BACKGROUND}
    tokens = exchange(client, app, query_of(response["Location"])["code"], pkce[0]).json()
    assert set(tokens["scope"].split()) == {GH_READ, BACKGROUND}
    assert tokens["refresh_token"]


def test_background_is_off_by_default_on_the_screen(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, BACKGROUND])
    github(person)
    html = client.get(authorize_url(app, [GH_READ, BACKGROUND], challenge=pkce[1])).content
    assert b'name="accept" value="agents.jobs.background">' in html  # no "checked"


def test_resources_not_offered_by_the_provider_are_refused(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    response = approve(client, screen, resources={GH_READ: ["someone/else"]})
    assert response.status_code == 400
    assert b"only from the list shown" in response.content
    assert not Grant.objects.exists()


def test_a_resource_scope_needs_at_least_one_selection(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    response = approve(client, screen)
    assert response.status_code == 400 and b"Select at least one repository" in response.content
    assert not Grant.objects.exists()


def test_cannot_approve_while_something_required_is_missing(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, SLACK_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ, SLACK_READ], challenge=pkce[1]))
    response = approve(client, screen, resources={GH_READ: ["octo/repo1"]})
    assert response.status_code == 400 and not Grant.objects.exists()


def test_cancel_sends_access_denied_and_records_it(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1], state="s-2"))
    response = client.post("/oauth/authorize/", {"request": rid_of(screen), "action": "cancel"})
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert params["error"] == "access_denied" and params["state"] == "s-2"
    assert not Grant.objects.exists()
    assert len(events(Action.CONSENT_DENIED)) == 1
    # The request is used up.
    again = client.post("/oauth/authorize/", {"request": rid_of(screen), "action": "approve"})
    assert again.status_code == 400


def test_approval_needs_csrf(person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person)
    screen = browser.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    response = approve(browser, screen, resources={GH_READ: ["octo/repo1"]})
    assert response.status_code == 403
    assert not Grant.objects.exists()


def test_approval_needs_the_same_signed_in_person(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    client.logout()
    response = approve(client, screen, resources={GH_READ: ["octo/repo1"]})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Grant.objects.exists()


def test_get_never_approves(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    client.get(
        f"/oauth/authorize/?request={rid_of(screen)}&action=approve&resource:{GH_READ}=octo/repo1"
    )
    assert not Grant.objects.exists()


def test_optional_scope_declined(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app({GH_READ: True, SLACK_READ: False})
    github(person)
    slack(person)
    screen = client.get(authorize_url(app, [GH_READ, SLACK_READ], challenge=pkce[1]))
    html = screen.content.decode()
    assert "Optional: tick to allow" in html
    # Every optional permission starts off: the person opts in.
    assert f'name="accept" value="{SLACK_READ}" checked' not in html
    response = approve(client, screen, resources={GH_READ: ["octo/repo2"]})
    assert response.status_code == 302
    assert Grant.objects.get().scopes == [GH_READ]


def test_two_accounts_of_one_provider_choose_one(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    first, second = github(person), github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    html = screen.content.decode()
    assert f'name="connection:github" value="{first.pk}"' in html
    assert f'name="connection:github" value="{second.pk}"' in html
    response = approve(
        client,
        screen,
        resources={GH_READ: ["octo/repo1"]},
        extra={"connection:github": str(second.pk)},
    )
    assert response.status_code == 302
    assert Grant.objects.get().connections == {"github": second.pk}


def test_picker_offers_every_account_even_one_that_needs_more_access(
    client, person, pkce, monkeypatch
):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    serving = github(person, login="hubot")
    narrow = github(person, scopes=("read:user",), login="octocat")
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    html = screen.content.decode()
    assert 'data-account-picker="github"' in html
    assert f'name="connection:github" value="{serving.pk}" checked' in html
    assert f'name="connection:github" value="{narrow.pk}"' in html
    # The narrow account offers its upgrade beside it, explained in words; approval stays possible.
    assert f'id="upgrade-{narrow.pk}"' in html and "Full control of private repositories" in html
    assert "the platform first needs access to your" not in html
    assert 'id="approve" disabled' not in html


def test_resource_list_shows_count_summary_and_private_markers(client, person, pkce, monkeypatch):
    fake_resources(
        monkeypatch,
        {
            "repository": (
                {"id": "octo/secret", "label": "octo/secret", "private": True},
                {"id": "octo/open", "label": "octo/open", "private": False},
            )
        },
    )
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    html = screen.content.decode()
    assert "0</span> of 2 selected" in html and "nothing yet" in html
    assert '<span class="badge private">Private</span>' in html
    assert '<span class="badge public">Public</span>' in html
    assert "<code>repo</code>: Full control of private repositories" in html


def test_someone_elses_connection_cannot_be_chosen(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    github(person)
    theirs = github(UserFactory())
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    response = approve(
        client,
        screen,
        resources={GH_READ: ["octo/repo1"]},
        extra={"connection:github": str(theirs.pk)},
    )
    assert response.status_code == 400 and not Grant.objects.exists()


def test_search_narrows_a_long_list_and_keeps_selection(client, person, pkce, monkeypatch):
    many = [{"id": f"octo/r{i:03}", "label": f"octo/r{i:03}"} for i in range(120)]
    fake_resources(monkeypatch, {"repository": many})
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    html = screen.content.decode()
    assert 'type="search"' in html and "70 more: search to find them" in html
    updated = client.post(
        "/oauth/authorize/",
        {
            "request": rid_of(screen),
            "action": "update",
            f"search:{GH_READ}": "r11",
            f"resource:{GH_READ}": ["octo/r005"],
        },
    )
    html = updated.content.decode()
    assert 'value="octo/r005" checked' in html
    assert 'value="octo/r110"' in html and 'value="octo/r050"' not in html
    assert not Grant.objects.exists()


def test_duration_sets_the_expiry(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    before = timezone.now()
    approve(client, screen, resources={GH_READ: ["octo/repo1"]}, duration="1h")
    grant = Grant.objects.get()
    assert grant.duration == "1h"
    assert 3590 <= (grant.expires_at - before).total_seconds() <= 3700


def test_unknown_duration_is_refused(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    response = approve(client, screen, resources={GH_READ: ["octo/repo1"]}, duration="1y")
    assert response.status_code == 400 and not Grant.objects.exists()


# --- incremental -----------------------------------------------------------------------------------


def test_covered_request_needs_no_screen(client, person, pkce):
    app = make_app([GH_READ])
    connection = github(person)
    GrantFactory(user=person, app=app, scopes=[GH_READ], connections={"github": connection.pk})
    response = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    assert response.status_code == 302
    assert "code" in query_of(response["Location"])
    assert not events(Action.CONSENT_SHOWN)


def test_prompt_consent_shows_the_screen_anyway(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    connection = github(person)
    GrantFactory(user=person, app=app, scopes=[GH_READ], connections={"github": connection.pk})
    response = client.get(authorize_url(app, [GH_READ], challenge=pkce[1], prompt="consent"))
    assert response.status_code == 200 and b"Already allowed" in response.content


def test_expired_grant_shows_the_screen_again(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    connection = github(person)
    GrantFactory(
        user=person,
        app=app,
        scopes=[GH_READ],
        connections={"github": connection.pk},
        resources={GH_READ: [{"id": "octo/repo2", "label": "octo/repo2"}]},
        expires_at=timezone.now() - timezone.timedelta(seconds=1),
    )
    response = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    assert response.status_code == 200
    # Chosen before: preselected.
    assert b'value="octo/repo2" checked' in response.content
    assert b'value="octo/repo1" checked' not in response.content


def test_delta_shows_only_what_is_new_and_the_grant_grows(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, SLACK_READ, GH_WRITE, PROFILE])
    gh, sl = github(person), slack(person)
    GrantFactory(
        user=person,
        app=app,
        scopes=[GH_READ, SLACK_READ],
        connections={"github": gh.pk, "slack": sl.pk},
        resources={
            GH_READ: [{"id": "octo/repo1", "label": "octo/repo1"}],
            SLACK_READ: [{"id": "C01GENERAL", "label": "#general"}],
        },
    )
    screen = client.get(authorize_url(app, [GH_READ, SLACK_READ, GH_WRITE], challenge=pkce[1]))
    html = screen.content.decode()
    assert "asks for more access" in html
    assert html.count("Already allowed") == 2
    assert html.count(">New<") == 1
    # Only the new scope asks for resources.
    assert f'name="resource:{GH_WRITE}"' in html and f'name="resource:{GH_READ}"' not in html
    response = approve(client, screen, resources={GH_WRITE: ["octo/repo2"]})
    assert response.status_code == 302
    grant = Grant.objects.get()
    assert grant.scopes == [GH_READ, SLACK_READ, GH_WRITE]
    assert grant.resources[GH_READ] == [{"id": "octo/repo1", "label": "octo/repo1"}]
    assert grant.resources[GH_WRITE] == [{"id": "octo/repo2", "label": "octo/repo2"}]
    assert grant.resources[SLACK_READ][0]["id"] == CHANNELS[0]["id"]
    change = GrantChange.objects.get(grant=grant)
    assert GH_WRITE not in change.before["scopes"] and GH_WRITE in change.after["scopes"]
    assert len(events(Action.GRANT_CHANGED)) == 1


# --- suspension ------------------------------------------------------------------------------------


def test_suspended_app_shows_its_reason_and_cannot_be_approved(client, person, pkce):
    app = make_app([GH_READ], suspended_at=timezone.now(), suspension_reason="Sent spam <b>x</b>")
    github(person)
    response = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "This app is suspended" in html and "Sent spam &lt;b&gt;x&lt;/b&gt;" in html
    assert 'value="approve"' not in html and "Location" not in response


def test_app_suspended_while_the_screen_is_open_cannot_be_approved(
    client, person, pkce, monkeypatch
):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    app.suspended_at = timezone.now()
    app.suspension_reason = "Abuse"
    app.save()
    response = approve(client, screen, resources={GH_READ: ["octo/repo1"]})
    assert response.status_code == 403 and b"Abuse" in response.content
    assert not Grant.objects.exists()


def test_a_declined_choice_is_remembered_and_not_asked_again(client, person, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ, BACKGROUND])
    github(person)
    verifier, challenge = pkce_pair()
    screen = client.get(authorize_url(app, [GH_READ, BACKGROUND], challenge=challenge))
    approve(client, screen, resources={GH_READ: ["octo/repo1"]})
    assert Grant.objects.get().declined_scopes == [BACKGROUND]
    verifier, challenge = pkce_pair()
    again = client.get(authorize_url(app, [GH_READ, BACKGROUND], challenge=challenge))
    assert again.status_code == 302
    tokens = exchange(client, app, query_of(again["Location"])["code"], verifier).json()
    assert tokens["scope"] == GH_READ and "refresh_token" not in tokens
    # prompt=consent offers it again, unticked.
    verifier, challenge = pkce_pair()
    html = client.get(
        authorize_url(app, [GH_READ, BACKGROUND], challenge=challenge, prompt="consent")
    ).content.decode()
    assert 'name="accept" value="agents.jobs.background">' in html


def test_prompt_none_when_a_screen_is_needed_answers_consent_required(
    client, person, pkce, monkeypatch
):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    response = client.get(authorize_url(app, [GH_READ], challenge=pkce[1], prompt="none"))
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert params["error"] == "consent_required" and params["state"] == "st-1"
    assert not Grant.objects.exists()


def test_app_links_must_be_http(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app(
        [GH_READ],
        homepage_url="javascript:alert(1)",
        privacy_policy_url="https://app.example.com/privacy",
    )
    github(person)
    html = client.get(authorize_url(app, [GH_READ], challenge=pkce[1])).content.decode()
    assert "javascript:" not in html
    assert 'href="https://app.example.com/privacy"' in html


def test_unknown_action_is_refused(client, person, pkce, monkeypatch):
    fake_resources(monkeypatch)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    response = client.post("/oauth/authorize/", {"request": rid_of(screen), "action": "hack"})
    assert response.status_code == 400 and not Grant.objects.exists()


def test_provider_down_says_so_and_nothing_is_approved(client, person, pkce, monkeypatch):
    from connections import resources
    from connections.exceptions import ProviderUnavailable

    def down(connection, kind):
        raise ProviderUnavailable()

    monkeypatch.setattr(resources, "list_resources", down)
    app = make_app([GH_READ])
    github(person)
    screen = client.get(authorize_url(app, [GH_READ], challenge=pkce[1]))
    assert b"could not be loaded from the provider" in screen.content
    response = approve(client, screen, resources={GH_READ: ["octo/repo1"]})
    assert response.status_code == 400 and b"could not be loaded" in response.content
    assert not Grant.objects.exists()
