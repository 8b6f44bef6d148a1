"""On the wire: RFC 9396 ``authorization_details``, RFC 8707 ``resource`` and ``offline_access``."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from oauth2_provider.models import get_access_token_model

from consent import rar
from consent.models import Grant
from tests.consent.helpers import (
    BACKGROUND,
    GH_READ,
    GH_WRITE,
    REDIRECT,
    SECRET,
    SLACK_READ,
    approve,
    authorize_url,
    exchange,
    fake_resources,
    github,
    make_app,
    pkce_pair,
    query_of,
    refresh,
    slack,
)
from tests.factories import GrantFactory, UserFactory

pytestmark = pytest.mark.django_db

DETAILS = [{"type": "github_repository", "actions": ["read"], "identifier": "Octo/Repo2"}]


# ---- parsing (pure) ------------------------------------------------------------------------------
def test_parse_canonicalises_and_maps_to_scopes():
    details = rar.parse(
        json.dumps([*DETAILS, {"type": "slack_channel", "identifier": "c01general"}])
    )
    assert details[0] == rar.Detail("github_repository", ("read",), "octo/repo2")
    assert details[1] == rar.Detail("slack_channel", ("read",), "C01GENERAL")
    assert rar.scopes_for(details) == [GH_READ, SLACK_READ]
    assert rar.preselection(details) == {GH_READ: ["octo/repo2"], SLACK_READ: ["C01GENERAL"]}


def test_organisations_are_a_read_only_type():
    details = rar.parse('[{"type": "github_organization", "identifier": "Octo-Org"}]')
    assert details[0].identifier == "octo-org"
    assert rar.scopes_for(details) == ["services.github.organisations.read"]
    with pytest.raises(rar.InvalidAuthorizationDetails, match="no such action"):
        rar.parse('[{"type": "github_organization", "identifier": "o", "actions": ["write"]}]')


def test_write_action_maps_to_the_write_scope():
    details = rar.parse(json.dumps([{**DETAILS[0], "actions": ["read", "write"]}]))
    assert rar.scopes_for(details) == [GH_READ, GH_WRITE]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not json", "must be JSON"),
        ("{}", "non-empty JSON array"),
        ("[]", "non-empty JSON array"),
        ('"x"', "non-empty JSON array"),
        ("[1]", "must be an object"),
        ('[{"identifier": "a/b"}]', "needs a type"),
        ('[{"type": "jira_project", "identifier": "A"}]', "unknown type 'jira_project'"),
        ('[{"type": "github_repository"}]', "needs an identifier"),
        ('[{"type": "github_repository", "identifier": 7}]', "needs an identifier"),
        ('[{"type": "github_repository", "identifier": "../etc"}]', "not a repository"),
        ('[{"type": "github_repository", "identifier": "a/b", "actions": []}]', "actions"),
        ('[{"type": "github_repository", "identifier": "a/b", "actions": ["admin"]}]', "actions"),
        ('[{"type": "github_repository", "identifier": "a/b", "actions": "read"}]', "actions"),
        (
            '[{"type": "github_repository", "identifier": "a/b", "locations": ["x"]}]',
            "unsupported field",
        ),
        (json.dumps([DETAILS[0]] * 21), "At most 20"),
        (
            "[" + ",".join(['{"type":"github_repository","identifier":"a/b"}'] * 200) + "]",
            "too long",
        ),
    ],
)
def test_parse_refuses_malformed_details(raw, says):
    with pytest.raises(rar.InvalidAuthorizationDetails) as problem:
        rar.parse(raw)
    assert says in str(problem.value)
    assert problem.value.error == "invalid_authorization_details"


def test_granted_details_merge_actions_per_resource():
    resources = {
        GH_READ: [{"id": "octo/a", "label": "a"}, {"id": "octo/b", "label": "b"}],
        GH_WRITE: [{"id": "octo/a", "label": "a"}],
    }
    assert rar.granted_details([GH_READ, GH_WRITE], resources) == [
        {"type": "github_repository", "actions": ["read", "write"], "identifier": "octo/a"},
        {"type": "github_repository", "actions": ["read"], "identifier": "octo/b"},
    ]
    assert rar.granted_details([GH_WRITE], resources) == [
        {"type": "github_repository", "actions": ["write"], "identifier": "octo/a"}
    ]


# ---- the flow --------------------------------------------------------------------------------------
@pytest.fixture
def person(client, monkeypatch):
    user = UserFactory()
    client.force_login(user)
    github(user)
    slack(user)
    fake_resources(monkeypatch)
    return user


def start(client, app, scopes, resource=(), **extra):
    verifier, challenge = pkce_pair()
    url = authorize_url(app, scopes, challenge=challenge, **extra)
    if resource:
        resource = [resource] if isinstance(resource, str) else resource
        url += "&" + urlencode({"resource": list(resource)}, doseq=True)
    return client.get(url), verifier


def checked_resources(response, scope):
    import re

    page = response.content.decode()
    return re.findall(rf'name="resource:{re.escape(scope)}" value="([^"]+)" checked', page)


def test_details_are_preselected_then_granted_in_token_and_introspection(client, person):
    app = make_app({GH_READ: False, SLACK_READ: False})
    screen, verifier = start(client, app, [], authorization_details=json.dumps(DETAILS))
    assert screen.status_code == 200, screen.get("Location")
    assert checked_resources(screen, GH_READ) == ["octo/repo2"]
    # The person adds a repository: what is granted is the person's choice.
    done = approve(
        client, screen, accept=[GH_READ], resources={GH_READ: ["octo/repo2", "octo/repo3"]}
    )
    code = query_of(done["Location"])["code"]
    tokens = exchange(client, app, code, verifier).json()
    assert tokens["scope"] == GH_READ
    assert tokens["authorization_details"] == [
        {"type": "github_repository", "actions": ["read"], "identifier": "octo/repo2"},
        {"type": "github_repository", "actions": ["read"], "identifier": "octo/repo3"},
    ]
    grant = Grant.objects.get(user=person, app=app)
    assert [r["id"] for r in grant.resources[GH_READ]] == ["octo/repo2", "octo/repo3"]
    # Enforced by the broker exactly like a selection made on the screen.
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    refused = client.get("/api/v1/github/repos/octo/repo1", **bearer)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "resource_not_granted"
    auth = "Basic " + base64.b64encode(f"{app.client.client_id}:{SECRET}".encode()).decode()
    seen = client.post(
        "/oauth/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=auth
    ).json()
    assert seen["active"] is True
    assert seen["authorization_details"] == tokens["authorization_details"]
    # Narrowed later: introspection follows the grant as it is now.
    grant.resources = {GH_READ: [{"id": "octo/repo3", "label": "octo/repo3"}]}
    grant.save()
    seen = client.post(
        "/oauth/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=auth
    ).json()
    assert [d["identifier"] for d in seen["authorization_details"]] == ["octo/repo3"]


def test_details_beyond_an_existing_grant_get_what_the_grant_holds(client, person):
    app = make_app([GH_READ])
    GrantFactory(
        user=person,
        app=app,
        scopes=[GH_READ],
        resources={GH_READ: [{"id": "octo/repo1", "label": "octo/repo1"}]},
        connections={"github": person.connections.first().pk},
    )
    response, verifier = start(client, app, [GH_READ], authorization_details=json.dumps(DETAILS))
    assert response.status_code == 302
    tokens = exchange(client, app, query_of(response["Location"])["code"], verifier).json()
    # RFC 9396 7: the response says what was granted, which is less than what was asked.
    assert tokens["authorization_details"] == [
        {"type": "github_repository", "actions": ["read"], "identifier": "octo/repo1"}
    ]


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps([{"type": "unknown_kind", "identifier": "x"}]),
        json.dumps([{"type": "github_repository", "identifier": "no-slash"}]),
        # The app may not ask for Slack at all.
        json.dumps([{"type": "slack_channel", "identifier": "C01GENERAL"}]),
    ],
)
def test_bad_details_are_an_error_redirect_and_nothing_changes(client, person, value):
    app = make_app([GH_READ])
    response, _ = start(client, app, [GH_READ], authorization_details=value, state="st-9")
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT)
    answer = query_of(response["Location"])
    assert answer["error"] == "invalid_authorization_details"
    assert answer["state"] == "st-9"
    assert "code" not in answer
    assert not Grant.objects.exists()


def test_repeated_details_are_an_error(client, person):
    app = make_app([GH_READ])
    _verifier, challenge = pkce_pair()
    url = authorize_url(app, [GH_READ], challenge=challenge)
    d = json.dumps(DETAILS)
    response = client.get(url + "&" + urlencode({"authorization_details": [d, d]}, doseq=True))
    assert query_of(response["Location"])["error"] == "invalid_authorization_details"
    assert not Grant.objects.exists()


# ---- RFC 8707 resource ---------------------------------------------------------------------------------
MCP = "http://testserver/mcp"
API = "http://testserver/api/v1"


def code_with_resource(client, person, app, scopes, resources):
    screen, verifier = start(client, app, scopes, resource=resources)
    if screen.status_code == 200:
        screen = approve(client, screen, accept=scopes, resources={GH_READ: ["octo/repo1"]})
    return query_of(screen["Location"]), verifier


def test_resource_binds_the_token_audience(client, person):
    app = make_app([GH_READ])
    answer, verifier = code_with_resource(client, person, app, [GH_READ], [MCP])
    tokens = exchange(client, app, answer["code"], verifier).json()
    token = get_access_token_model().objects.get()
    assert token.resource == [MCP]
    assert "access_token" in tokens


def test_unknown_resource_is_invalid_target(client, person):
    app = make_app([GH_READ])
    response, _ = start(client, app, [GH_READ], resource="https://elsewhere.example/mcp")
    assert query_of(response["Location"])["error"] == "invalid_target"
    assert not Grant.objects.exists()


def exchange_for(client, app, answer, verifier, resource):
    return client.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "resource": resource,
        },
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{app.client.client_id}:{SECRET}".encode()).decode(),
    )


def test_token_request_cannot_widen_the_audience(client, person):
    app = make_app([GH_READ])
    answer, verifier = code_with_resource(client, person, app, [GH_READ], [MCP])
    response = exchange_for(client, app, answer, verifier, API)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert not get_access_token_model().objects.exists()


def test_token_request_resource_must_be_the_platforms(client, person):
    app = make_app([GH_READ])
    answer, verifier = code_with_resource(client, person, app, [GH_READ], [])
    response = exchange_for(client, app, answer, verifier, "https://elsewhere.example/")
    assert response.json()["error"] == "invalid_target"


def test_refresh_keeps_the_audience(client, person):
    app = make_app({GH_READ: True, BACKGROUND: False}, may_request_background=True)
    screen, verifier = start(client, app, [GH_READ, BACKGROUND], resource=[MCP, API])
    done = approve(
        client, screen, accept=[GH_READ, BACKGROUND], resources={GH_READ: ["octo/repo1"]}
    )
    tokens = exchange(client, app, query_of(done["Location"])["code"], verifier).json()
    fresh = refresh(client, app, tokens["refresh_token"]).json()
    token = get_access_token_model().objects.get(token_checksum=_checksum(fresh["access_token"]))
    assert token.resource == [MCP, API]


def _checksum(value):
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()


# ---- offline_access ------------------------------------------------------------------------------------
def test_offline_access_is_background_access_on_the_screen(client, person):
    app = make_app({GH_READ: True, BACKGROUND: False}, may_request_background=True)
    screen, verifier = start(client, app, [GH_READ, "offline_access"])
    assert screen.status_code == 200
    page = screen.content.decode()
    assert f'name="accept" value="{BACKGROUND}"' in page
    assert "Keep access while you are away" in page
    assert "offline_access" not in page
    done = approve(
        client, screen, accept=[GH_READ, BACKGROUND], resources={GH_READ: ["octo/repo1"]}
    )
    tokens = exchange(client, app, query_of(done["Location"])["code"], verifier).json()
    assert tokens["refresh_token"]
    assert set(tokens["scope"].split()) == {GH_READ, BACKGROUND}


def test_offline_access_declined_means_no_refresh_token(client, person):
    app = make_app({GH_READ: True, BACKGROUND: False}, may_request_background=True)
    screen, verifier = start(client, app, [GH_READ, "offline_access"])
    done = approve(client, screen, accept=[GH_READ], resources={GH_READ: ["octo/repo1"]})
    tokens = exchange(client, app, query_of(done["Location"])["code"], verifier).json()
    assert "refresh_token" not in tokens


def test_offline_access_is_dropped_for_an_app_without_background(client, person):
    # MCP clients add offline_access whenever the metadata lists it; a refresh token is the
    # server's to decline, so the request goes on without background access.
    app = make_app([GH_READ])
    screen, verifier = start(client, app, [GH_READ, "offline_access"])
    assert screen.status_code == 200
    assert f'value="{BACKGROUND}"' not in screen.content.decode()
    done = approve(client, screen, accept=[GH_READ], resources={GH_READ: ["octo/repo1"]})
    tokens = exchange(client, app, query_of(done["Location"])["code"], verifier).json()
    assert tokens["scope"] == GH_READ and "refresh_token" not in tokens


def test_background_asked_by_name_for_an_app_without_it_is_invalid_scope(client, person):
    app = make_app([GH_READ])
    response, _ = start(client, app, [GH_READ, BACKGROUND])
    assert query_of(response["Location"])["error"] == "invalid_scope"
