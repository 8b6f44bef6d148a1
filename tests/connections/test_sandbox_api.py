"""The sandbox answers like GitHub, Slack and Drive, and enforces the token's provider scopes."""

import base64
import json

import pytest
import requests
from django.utils import timezone

from connections.providers import get_provider
from connections.sandbox.models import SandboxToken, digest

pytestmark = pytest.mark.django_db(transaction=True)


def call(connection, method, path, **kw):
    base = get_provider(connection.provider).api_base_url
    headers = {"Authorization": f"Bearer {connection.access_token}", **kw.pop("headers", {})}
    return requests.request(method, base + path, headers=headers, timeout=10, **kw)


def test_github_user_repos_paginate_with_link_header(make_connection):
    c = make_connection()
    first = call(c, "GET", "/user/repos", params={"per_page": 30})
    assert first.status_code == 200
    assert first.headers["X-OAuth-Scopes"] == "repo, read:user"
    assert 'rel="next"' in first.headers["Link"] and len(first.json()) == 30
    names = [r["full_name"] for r in first.json()]
    second = requests.get(
        first.links["next"]["url"],
        headers={"Authorization": f"Bearer {c.access_token}"},
        timeout=10,
    )
    names += [r["full_name"] for r in second.json()]
    assert "octo-demo/docs" in names and "octo-demo/secret-plans" in names
    assert "hubot/robot-brain" not in names
    assert 'rel="prev"' in second.headers["Link"]


def test_github_private_repo_needs_repo_scope_and_membership(make_connection):
    narrow = make_connection(scopes=("read:user",))
    assert call(narrow, "GET", "/repos/octo-demo/secret-plans").status_code == 404
    assert call(narrow, "GET", "/repos/octo-demo/docs").status_code == 200
    assert all(
        not r["private"]
        for r in call(narrow, "GET", "/user/repos", params={"per_page": 100}).json()
    )
    wide = make_connection()
    assert (
        call(wide, "GET", "/repos/Octo-Demo/Secret-Plans").json()["full_name"]
        == "octo-demo/secret-plans"
    )
    assert call(wide, "GET", "/repos/hubot/robot-brain").status_code == 404
    body = call(wide, "GET", "/repos/nobody/nothing")
    assert body.status_code == 404 and body.json()["message"] == "Not Found"


def test_github_contents_and_issues(make_connection):
    c = make_connection()
    file = call(c, "GET", "/repos/octo-demo/docs/contents/guide/faq.md").json()
    assert (
        file["encoding"] == "base64" and "Encrypted" in base64.b64decode(file["content"]).decode()
    )
    listing = call(c, "GET", "/repos/octo-demo/docs/contents/").json()
    assert {"name": "guide", "type": "dir", "path": "guide"} in listing
    issues = call(c, "GET", "/repos/octo-demo/docs/issues").json()
    assert [i["number"] for i in issues] == [3, 2, 1]
    created = call(
        c, "POST", "/repos/octo-demo/docs/issues", data=json.dumps({"title": "New", "body": "x"})
    )
    assert created.status_code == 201 and created.json()["number"] == 4
    comment = call(
        c, "POST", "/repos/octo-demo/docs/issues/4/comments", data=json.dumps({"body": "hi"})
    )
    assert comment.status_code == 201
    bad = call(c, "POST", "/repos/octo-demo/docs/issues", data=json.dumps({"body": "no title"}))
    assert bad.status_code == 422
    narrow = make_connection(scopes=("read:user",))
    assert (
        call(
            narrow, "POST", "/repos/octo-demo/docs/issues", data=json.dumps({"title": "x"})
        ).status_code
        == 404
    )


def test_github_bad_or_expired_token(make_connection):
    c = make_connection()
    SandboxToken.objects.filter(token_digest=digest(c.access_token)).update(
        expires_at=timezone.now()
    )
    response = call(c, "GET", "/user")
    assert response.status_code == 401 and response.json()["message"] == "Bad credentials"


def test_slack_shapes_cursor_and_missing_scope(make_connection):
    c = make_connection(
        flavour="sandbox_slack", uid="U0ALICE01", scopes=("channels:read", "channels:history")
    )
    assert call(c, "GET", "/auth.test").json()["user_id"] == "U0ALICE01"
    page = call(c, "GET", "/conversations.list", params={"limit": 5}).json()
    assert page["ok"] and len(page["channels"]) == 5
    cursor = page["response_metadata"]["next_cursor"]
    ids = [ch["id"] for ch in page["channels"]]
    while cursor:
        page = call(c, "GET", "/conversations.list", params={"limit": 5, "cursor": cursor}).json()
        ids += [ch["id"] for ch in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
    assert len(ids) == len(set(ids)) == 15 and "G0PRIVATE1" not in ids
    history = call(c, "GET", "/conversations.history", params={"channel": "C0GENERAL1"}).json()
    assert history["ok"] and history["messages"][0]["text"] == "Deploy at 3pm."
    post = call(c, "POST", "/chat.postMessage", data={"channel": "C0GENERAL1", "text": "hi"}).json()
    assert post == {
        "ok": False,
        "error": "missing_scope",
        "needed": "chat:write",
        "provided": "channels:read,channels:history",
    }
    assert (
        call(c, "GET", "/conversations.history", params={"channel": "CNOPE"}).json()["error"]
        == "channel_not_found"
    )
    writer = make_connection(flavour="sandbox_slack", uid="U0BOB0001", scopes=("chat:write",))
    assert (
        call(
            writer, "POST", "/chat.postMessage", json={"channel": "C0GENERAL1", "text": "yo"}
        ).json()["ok"]
        is True
    )
    assert (
        call(
            writer, "POST", "/chat.postMessage", json={"channel": "C0ENGINEER", "text": "yo"}
        ).json()["error"]
        == "not_in_channel"
    )
    revoked = call(writer, "POST", "/auth.revoke").json()
    assert revoked == {"ok": True, "revoked": True}
    assert call(writer, "GET", "/auth.test").json() == {"ok": False, "error": "invalid_auth"}


DRIVE_READ = "https://www.googleapis.com/auth/drive.readonly"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"


def test_drive_list_get_media_upload(make_connection):
    c = make_connection(flavour="sandbox_google", uid="110001", scopes=(DRIVE_READ,))
    listing = call(
        c, "GET", "/drive/v3/files", params={"q": "'1FoldReportsAda' in parents", "pageSize": 5}
    ).json()
    assert (
        listing["kind"] == "drive#fileList"
        and len(listing["files"]) == 5
        and listing["nextPageToken"]
    )
    more = call(
        c,
        "GET",
        "/drive/v3/files",
        params={
            "q": "'1FoldReportsAda' in parents",
            "pageSize": 5,
            "pageToken": listing["nextPageToken"],
        },
    ).json()
    assert {f["id"] for f in more["files"]}.isdisjoint({f["id"] for f in listing["files"]})
    meta = call(c, "GET", "/drive/v3/files/1FileNotesAda").json()
    assert meta["name"] == "notes.txt" and meta["parents"] == ["1FoldProjectsAda"]
    assert (
        call(c, "GET", "/drive/v3/files/1FileNotesAda", params={"alt": "media"}).content
        == b"Analytical engine notes.\n"
    )
    assert call(c, "GET", "/drive/v3/files/1FileBugGrace").status_code == 404  # Grace's file
    assert call(c, "GET", "/drive/v3/files", params={"q": "name contains 'x'"}).status_code == 400
    boundary = "xyzzy"
    body = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        + json.dumps({"name": "new.txt", "parents": ["1FoldProjectsAda"], "mimeType": "text/plain"})
        + f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/related; boundary={boundary}"}
    denied = call(
        c,
        "POST",
        "/upload/drive/v3/files",
        params={"uploadType": "multipart"},
        data=body,
        headers=headers,
    )
    assert (
        denied.status_code == 403
        and denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    )
    writer = make_connection(flavour="sandbox_google", uid="110001", scopes=(DRIVE_FILE,))
    created = call(
        writer,
        "POST",
        "/upload/drive/v3/files",
        params={"uploadType": "multipart"},
        data=body,
        headers=headers,
    )
    assert created.status_code == 200, created.text
    new_id = created.json()["id"]
    assert (
        call(writer, "GET", f"/drive/v3/files/{new_id}", params={"alt": "media"}).content
        == b"hello"
    )


def test_token_endpoint_rejects_bad_clients_and_grants(sandbox):
    from connections.providers import sandbox_client_credentials

    url = get_provider("sandbox_google").token_url
    client_id, secret = sandbox_client_credentials("sandbox_google")
    wrong = requests.post(
        url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": client_id,
            "client_secret": "nope",
        },
        timeout=10,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    unknown = requests.post(
        url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": client_id,
            "client_secret": secret,
        },
        timeout=10,
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"
    password = requests.post(
        url,
        data={"grant_type": "password", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    assert password.json()["error"] == "unsupported_grant_type"
    gh_id, gh_secret = sandbox_client_credentials("sandbox_github")
    quirk = requests.post(
        url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": gh_id,
            "client_secret": gh_secret,
        },
        timeout=10,
    )
    assert quirk.status_code == 200 and quirk.json()["error"] == "bad_refresh_token"


def test_authorize_rejects_unregistered_redirect_without_redirecting(sandbox):
    from connections.providers import sandbox_client_credentials

    client_id, _ = sandbox_client_credentials("sandbox_github")
    response = requests.get(
        get_provider("sandbox_github").authorize_url,
        params={
            "client_id": client_id,
            "redirect_uri": "https://evil.example/cb",
            "response_type": "code",
            "code_challenge": "x",
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400 and "redirect address" in response.text


def test_sandbox_is_gone_when_disabled(sandbox, settings):
    settings.SANDBOX_ENABLED = False
    assert requests.get(sandbox.url + "/sandbox/", timeout=10).status_code == 404
    from connections.providers import UnknownProvider

    with pytest.raises(UnknownProvider):
        get_provider("sandbox_github")
