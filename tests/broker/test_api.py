"""Each operation over real HTTP against the fake provider: the allowed path and the refusals."""

import json

import pytest

from tests.broker.conftest import GH_WRITE


def err(response):
    return response.json()["error"]["code"]


def test_me(world):
    r = world.get("me")
    assert r.status_code == 200
    assert r.json() == {
        "id": world.user.pk,
        "name": world.user.name,
        "email": world.user.email,
        "email_verified": True,
    }


def test_me_needs_profile_scope(world):
    r = world.get("me", token=world.token(scopes=[GH_WRITE]))
    assert r.status_code == 403 and err(r) == "insufficient_scope"
    assert r.json()["error"]["scope"] == "identity.profile.read"


def test_token_info(world):
    r = world.get("token")
    body = r.json()
    assert r.status_code == 200
    assert body["grant"] == world.grant.pk
    assert "services.github.repositories.read" in body["scopes"]
    assert body["services"]["github"] == {"provider": "github", "connection_active": True}
    assert body["resources"]["services.github.repositories.read"][0]["id"] == "octo/hello"
    assert body["background"] is False and body["background_allowed"] is True


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer nope", "Basic abc", "Bearer " + "x" * 600]
)
def test_bad_tokens(world, header):
    r = world.client.get("/api/v1/github/repos", HTTP_AUTHORIZATION=header)
    assert r.status_code == 401 and err(r) == "invalid_token"
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_expired_token(world):
    from datetime import timedelta

    r = world.get("github/repos", token=world.token(lifetime=timedelta(seconds=-1)))
    assert r.status_code == 401 and err(r) == "invalid_token"


# --- GitHub -----------------------------------------------------------------------------------


def test_list_repos_is_filtered_to_the_selection(world):
    r = world.get("github/repos")
    assert r.status_code == 200
    names = [i["full_name"] for i in r.json()["items"]]
    assert names == ["octo/hello", "OCTO/Hello"]
    assert r.json()["next_page"] == "2"
    r = world.get("github/repos?page=2&page_size=3")
    assert [i["name"] for i in r.json()["items"]] == ["page2"]
    seen = world.fake.requests_to("/user/repos")[-1]
    assert seen.query == {"page": ["2"], "per_page": ["3"]}


@pytest.mark.parametrize("query", ["page=abc", "page_size=0", "page_size=101", "page_size=x"])
def test_bad_pagination(world, query):
    r = world.get("github/repos?" + query)
    assert r.status_code == 400 and err(r) == "invalid_request"


def test_get_repo_uses_the_canonical_name_upstream(world):
    r = world.get("github/repos/Octo/Hello")
    assert r.status_code == 200 and r.json()["data"]["full_name"] == "octo/hello"
    assert world.fake.seen[-1].path == "/github/repos/octo/hello"


def test_get_contents(world):
    r = world.get("github/repos/octo/hello/contents/docs/read%20me.md")
    assert r.status_code == 200 and r.json()["data"]["path"] == "docs/read me.md"
    assert world.fake.seen[-1].path == "/github/repos/octo/hello/contents/docs/read%20me.md"


@pytest.mark.parametrize("path", ["../secret/x", "a/../../../secret", "%2e%2e/x"])
def test_contents_path_cannot_climb(world, path):
    r = world.get("github/repos/octo/hello/contents/" + path)
    assert r.status_code in {400, 404}
    assert not world.fake.requests_to("secret")


def test_list_issues(world):
    r = world.get("github/repos/octo/hello/issues")
    assert r.status_code == 200 and r.json()["items"] == [{"number": 1, "title": "first"}]


def test_create_issue_is_pending_without_unattended_writes(world):
    r = world.post("github/repos/octo/hello/issues", {"title": "Bug", "body": "It broke"})
    assert r.status_code == 202
    pending = r.json()["pending_action"]
    assert pending["status"] == "pending"
    assert pending["status_url"] == f"/api/v1/actions/{pending['id']}"
    assert not world.fake.issues  # nothing was sent to the provider


def test_create_issue_unattended(world):
    world.grant.scopes = [*world.grant.scopes, "agents.actions.unattended_writes"]
    world.grant.save()
    r = world.post("github/repos/octo/hello/issues", {"title": "Bug"})
    assert r.status_code == 201 and r.json()["data"]["number"] == 1
    assert world.fake.issues == [{"title": "Bug", "number": 1, "repo": "octo/hello"}]


def test_create_comment_unattended(world):
    world.grant.scopes = [*world.grant.scopes, "agents.actions.unattended_writes"]
    world.grant.save()
    r = world.post("github/repos/octo/hello/issues/3/comments", {"body": "+1"})
    assert r.status_code == 201 and r.json()["data"] == {"id": 9, "body": "+1", "issue": 3}


@pytest.mark.parametrize(
    "body",
    [{}, {"title": ""}, {"title": 5}, {"title": "x", "extra": 1}, {"title": "x" * 300}, [1]],
)
def test_write_body_is_validated(world, body):
    r = world.post("github/repos/octo/hello/issues", body)
    assert r.status_code == 400 and err(r) == "invalid_request"


def test_malformed_json(world):
    r = world.client.post(
        "/api/v1/github/repos/octo/hello/issues",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.token()}",
    )
    assert r.status_code == 400 and err(r) == "invalid_request"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"title": NaN}', "application/json"),  # not JSON, though Python's parser takes it
        (b'{"title": "\xff"}', "application/json"),  # not UTF-8
        (b'{"title": "x"}', "application/json; charset=no-such-charset"),
        ("title=x", "application/x-www-form-urlencoded"),
        ('{"title": "x"}', "text/plain"),
    ],
)
def test_write_bodies_that_are_not_json_are_refused_before_any_call(world, body, content_type):
    r = world.client.generic(  # generic(): the bytes as given, whatever the charset says
        "POST",
        "/api/v1/github/repos/octo/hello/issues",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {world.token()}",
    )
    assert r.status_code == 400 and err(r) == "invalid_request"
    assert r["Content-Type"] == "application/json"
    assert world.fake.seen == []


def test_a_method_the_route_does_not_declare(world):
    from audit.models import AuditEvent

    before = AuditEvent.objects.count()
    r = world.client.delete(
        "/api/v1/github/repos/octo/hello", HTTP_AUTHORIZATION=f"Bearer {world.token()}"
    )
    assert r.status_code == 405 and err(r) == "method_not_allowed"
    assert r["Allow"] == "GET, HEAD, OPTIONS"
    assert r.json()["error"]["request_id"] == r["X-Request-ID"]
    assert world.fake.seen == [] and AuditEvent.objects.count() == before


def test_options_names_the_methods_and_calls_nothing(world):
    r = world.client.options("/api/v1/github/repos/octo/hello/issues")
    assert r.status_code == 204 and r["Allow"] == "GET, POST, HEAD, OPTIONS" and not r.content
    assert world.fake.seen == []


def test_head_is_the_get_call(world):
    r = world.client.head(
        "/api/v1/github/repos/octo/hello", HTTP_AUTHORIZATION=f"Bearer {world.token()}"
    )
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert len(world.fake.seen) == 1


def test_answers_are_compact_utf8_json(world):
    # The bytes DRF's JSONRenderer wrote before the operations became plain views: compact,
    # UTF-8 rather than \u escapes.
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert b'": ' not in r.content and b'", "' not in r.content
    assert (
        r.content
        == json.dumps(r.json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    )


def test_write_needs_write_scope(world):
    token = world.token(scopes=["services.github.repositories.read"])
    r = world.post("github/repos/octo/hello/issues", {"title": "x"}, token=token)
    assert r.status_code == 403 and err(r) == "insufficient_scope"
    assert r.json()["error"]["scope"] == GH_WRITE


# --- Slack ------------------------------------------------------------------------------------


def test_slack_channels_filtered(world):
    r = world.get("slack/channels")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == ["C0001"]
    assert r.json()["next_page"] == "abc"


def test_slack_history(world):
    r = world.get("slack/channels/c0001/messages")
    assert r.status_code == 200 and r.json()["items"] == [{"text": "hi in C0001"}]
    assert world.fake.seen[-1].query["channel"] == ["C0001"]


def test_slack_history_unselected_channel(world):
    r = world.get("slack/channels/C0002/messages")
    assert r.status_code == 403 and err(r) == "resource_not_granted"
    assert not world.fake.seen


def test_slack_post_unattended(world):
    world.grant.scopes = [*world.grant.scopes, "agents.actions.unattended_writes"]
    world.grant.save()
    r = world.post("slack/channels/C0001/messages", {"text": "hello"})
    assert r.status_code == 201 and r.json()["data"] == {"channel": "C0001", "ts": "1.2"}
    assert world.fake.messages == [{"text": "hello", "channel": "C0001"}]


def test_slack_post_cannot_override_channel(world):
    world.grant.scopes = [*world.grant.scopes, "agents.actions.unattended_writes"]
    world.grant.save()
    r = world.post("slack/channels/C0001/messages", {"text": "x", "channel": "C0002"})
    assert r.status_code == 400
    assert not world.fake.messages


# --- Drive ------------------------------------------------------------------------------------


def test_drive_list_folder_filtered(world):
    r = world.get("google/drive/folders/FolderA/files")
    assert r.status_code == 200
    assert sorted(f["id"] for f in r.json()["items"]) == ["f1", "f3"]
    assert r.json()["next_page"] == "tok2"


def test_drive_list_unselected_folder(world):
    r = world.get("google/drive/folders/FolderB/files")
    assert r.status_code == 403 and err(r) == "resource_not_granted"
    r = world.get("google/drive/folders/foldera/files")  # Drive ids are case-sensitive
    assert r.status_code == 403 and err(r) == "resource_not_granted"


def test_drive_file_metadata_by_parent(world):
    assert world.get("google/drive/files/f1").json()["data"]["name"] == "a.txt"
    r = world.get("google/drive/files/f2")
    assert r.status_code == 403 and err(r) == "resource_not_granted"


def test_drive_download(world):
    r = world.get("google/drive/files/f1/content")
    assert r.status_code == 200 and r.content == b"<b>content of f1</b>"
    assert r["Content-Type"] == "text/plain"
    r = world.get("google/drive/files/f3/content")  # provider HTML never served as HTML
    assert r["Content-Type"] == "application/octet-stream"
    r = world.get("google/drive/files/f2/content")
    assert r.status_code == 403 and err(r) == "resource_not_granted"
    assert not world.fake.requests_to("/f2") or all(
        s.query.get("alt") != ["media"] for s in world.fake.requests_to("/f2")
    )


def test_drive_missing_file(world):
    r = world.get("google/drive/files/nothere")
    assert r.status_code == 404 and err(r) == "not_found"
    assert "provider-secret" not in r.content.decode()


def test_drive_create_unattended(world):
    world.grant.scopes = [*world.grant.scopes, "agents.actions.unattended_writes"]
    world.grant.save()
    r = world.post("google/drive/folders/FolderA/files", {"name": "n.txt", "content": "hi"})
    assert r.status_code == 201 and r.json()["data"]["id"] == "new0"
    sent = world.fake.created_files[0]["body"]
    assert '"parents": ["FolderA"]' in sent and "hi" in sent


def test_drive_create_unselected_folder(world):
    r = world.post("google/drive/folders/FolderB/files", {"name": "n.txt"})
    assert r.status_code == 403 and err(r) == "resource_not_granted"


# --- grant, connection, background -----------------------------------------------------------


def test_revoked_grant_refused_on_next_call(world):
    from consent.services import grant_revoke

    token = world.token()
    assert world.get("github/repos", token=token).status_code == 200
    world.grant.revoked_at = None
    grant_revoke(grant=world.grant, actor=world.user, reason="test")
    r = world.get("github/repos", token=token)
    # The revocation deletes the tokens but remembers their checksums: the app is told why.
    assert r.status_code == 403 and err(r) == "grant_revoked"
    # A token that never existed is still just invalid.
    assert err(world.get("github/repos", token="no-such-token")) == "invalid_token"
    from django.utils import timezone

    from consent.services import ended_grant_tokens_forget

    assert ended_grant_tokens_forget(now=timezone.now() + timezone.timedelta(days=1)) == 1
    assert err(world.get("github/repos", token=token)) == "invalid_token"


def test_revoked_grant_refused_even_if_token_survives(world):
    from django.utils import timezone

    token = world.token()
    type(world.grant).objects.filter(pk=world.grant.pk).update(revoked_at=timezone.now())
    r = world.get("github/repos", token=token)
    assert r.status_code == 403 and err(r) == "grant_revoked"


def test_expired_grant(world):
    from datetime import timedelta

    from django.utils import timezone

    type(world.grant).objects.filter(pk=world.grant.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = world.get("github/repos")
    assert r.status_code == 403 and err(r) == "grant_revoked"


def test_suspended_app(world):
    from django.utils import timezone

    world.app.suspended_at = timezone.now()
    world.app.save()
    r = world.get("github/repos")
    assert r.status_code == 403 and err(r) == "app_suspended"


def test_narrowed_scope_refused(world):
    token = world.token()
    world.grant.scopes = [s for s in world.grant.scopes if s != "services.slack.channels.read"]
    world.grant.save()
    r = world.get("slack/channels", token=token)
    assert r.status_code == 403 and err(r) == "insufficient_scope"


@pytest.mark.parametrize("status", ["needs_reauth", "revoked"])
def test_connection_not_active(world, status):
    conn = world.connections["github"]
    conn.status = status
    conn.save()
    r = world.get("github/repos")
    assert r.status_code == 409 and err(r) == "connection_needs_reauthorization"
    url = r.json()["error"]["url"]
    conn_part = "connect/github/" if status == "revoked" else f"{conn.pk}/upgrade/"
    assert url == f"http://testserver/connections/{conn_part}?scopes=repo"


def test_no_connection_selected(world):
    world.grant.connections = {}
    world.grant.save()
    r = world.get("github/repos")
    assert r.status_code == 409 and err(r) == "connection_needs_reauthorization"


def test_session_token_after_window_refused(world, settings):
    from datetime import timedelta

    world.grant.scopes = [s for s in world.grant.scopes if s != "agents.jobs.background"]
    world.grant.save()
    old = world.token(age=settings.SESSION_GRANT_WINDOW + timedelta(minutes=1),
                      lifetime=settings.SESSION_GRANT_WINDOW + timedelta(minutes=5))  # fmt: skip
    r = world.get("github/repos", token=old)
    assert r.status_code == 403 and err(r) == "background_not_allowed"
    assert world.get("github/repos").status_code == 200


def test_refresh_token_use_is_background(world):
    from audit.models import AuditEvent

    token = world.token(from_refresh=True)
    assert world.get("github/repos", token=token).status_code == 200
    assert AuditEvent.objects.filter(action="broker.call").first().background is True
    world.grant.scopes = [s for s in world.grant.scopes if s != "agents.jobs.background"]
    world.grant.save()
    r = world.get("github/repos", token=world.token(from_refresh=True))
    assert r.status_code == 403 and err(r) == "background_not_allowed"


def test_client_credentials_names_the_grant(world):
    token = world.cc_token()
    r = world.get("github/repos", token=token)
    assert r.status_code == 401 and err(r) == "invalid_token"
    r = world.get("github/repos", token=token, HTTP_PLATFORM_GRANT=str(world.grant.pk))
    assert r.status_code == 200
    r = world.get("github/repos", token=token, HTTP_PLATFORM_GRANT="abc")
    assert r.status_code == 401


# --- upstream behaviour -----------------------------------------------------------------------


def test_provider_401_refreshes_once_and_retries(world):
    world.fake.valid_tokens.discard(world.connections["github"].access_token)
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 200 and world.fake.refreshes == 1
    tokens = [s.authorization for s in world.fake.requests_to("/repos/octo/hello")]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_provider_401_after_refresh_is_502_and_does_not_refresh_every_call(world):
    world.fake.fail_next = [(401, {}, b"{}"), (401, {}, b"{}")]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 502 and err(r) == "upstream_token_rejected"
    assert world.fake.refreshes == 1
    # The new token is still refused: reported again, without another refresh (each would
    # rotate the refresh token).
    world.fake.fail_next = [(401, {}, b"{}")]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 502 and err(r) == "upstream_token_rejected"
    assert world.fake.refreshes == 1
    # Once the provider accepts it again, calls work.
    assert world.get("github/repos/octo/hello").status_code == 200


def test_slack_invalid_auth_refreshes(world):
    world.fake.valid_tokens.discard(world.connections["slack"].access_token)
    r = world.get("slack/channels")
    assert r.status_code == 200 and world.fake.refreshes == 1


def test_provider_429_honoured(world):
    world.fake.fail_next = [(429, {"Retry-After": "17"}, b'{"message": "slow down"}')]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 429 and err(r) == "upstream_rate_limited"
    assert r["Retry-After"] == "17"
    assert len(world.fake.seen) == 1  # not retried into


def test_provider_5xx_retried_for_reads(world):
    world.fake.fail_next = [(502, {}, b"oops"), (503, {}, b"oops")]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 200 and len(world.fake.seen) == 3


def test_provider_5xx_error_shape(world):
    world.fake.fail_next = [(500, {}, b'{"token": "leak"}')] * 3
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 502 and err(r) == "upstream_error"
    assert r.json()["error"]["upstream_status"] == 500
    assert "leak" not in r.content.decode()


def test_writes_are_not_retried(world):
    world.grant.scopes = [*world.grant.scopes, "agents.actions.unattended_writes"]
    world.grant.save()
    world.fake.fail_next = [(503, {}, b"")]
    r = world.post("github/repos/octo/hello/issues", {"title": "x"})
    assert r.status_code == 502 and len(world.fake.seen) == 1


def test_provider_4xx_body_not_passed_through(world):
    world.fake.fail_next = [(422, {}, json.dumps({"message": "Validation Failed"}).encode())]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 502 and r.json()["error"]["upstream_status"] == 422
    assert "Validation" not in r.content.decode()


def test_response_size_limit(world, settings):
    settings.OUTBOUND_MAX_BYTES = 1000
    world.fake.fail_next = [(200, {}, b"[" + b'"x",' * 600 + b'"x"]')]
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 502 and err(r) == "upstream_error"


def test_provider_unreachable(world, settings):
    settings.PROVIDER_URLS = {
        "github": {"api": "http://127.0.0.1:9", "api_base": "http://127.0.0.1:9"}
    }
    settings.OUTBOUND_RETRIES = 1
    r = world.get("github/repos/octo/hello")
    assert r.status_code == 503 and err(r) == "upstream_unavailable"


def test_rate_limit_per_grant(world, settings):
    settings.BROKER_RATE_LIMIT_PER_GRANT = 2
    token = world.token()
    assert world.get("token", token=token).status_code == 200
    assert world.get("token", token=token).status_code == 200
    r = world.get("token", token=token)
    assert r.status_code == 429 and err(r) == "rate_limited"
    assert int(r["Retry-After"]) >= 1


def test_rate_limit_per_app(world, settings, client, fake):
    from tests.broker.conftest import make_world

    settings.BROKER_RATE_LIMIT_PER_APP = 1
    other = make_world(fake, client, app=world.app)
    assert world.get("token").status_code == 200
    r = other.get("token")
    assert r.status_code == 429 and err(r) == "rate_limited"
