"""The providers' declared operations read their own answers, and each provider's revocation is a
strategy of its declaration: pure, no database, no network."""

import json

import pytest

from connections.providers import (
    BUILTIN,
    GITHUB,
    GOOGLE,
    SANDBOX_GITHUB,
    SLACK,
    all_operations,
    service_declarations,
)
from connections.providers.answers import AuthRejected
from connections.providers.operations import AnswerError, BadPage, operation_from_data
from connections.providers.revocation import GITHUB_GRANT, RFC7009, SLACK_AUTH_REVOKE

OPS = all_operations()


def body(data):
    return lambda: data


def test_every_builtin_provider_brings_its_operations_and_the_sandbox_shares_them():
    assert {spec.service for spec in BUILTIN} == {"github", "slack", "google"}
    assert all(op.service == spec.service for spec in BUILTIN for op in spec.operations)
    assert SANDBOX_GITHUB.operations is GITHUB.operations
    served = {spec.service: spec for spec in service_declarations()}
    assert served["github"] is GITHUB and set(OPS) >= {op.name for op in GITHUB.operations}


def test_slack_ok_false_is_read_by_the_operation():
    op = OPS["slack.messages.list"]
    assert op.read(200, body({"ok": True, "messages": []})) == {"ok": True, "messages": []}
    with pytest.raises(AnswerError) as missing:
        op.read(200, body({"ok": False, "error": "channel_not_found"}))
    assert missing.value.kind == "not_found"
    with pytest.raises(AnswerError) as refused:
        op.read(200, body({"ok": False, "error": "ratelimited"}))
    assert refused.value.kind == "refused" and "ratelimited" not in refused.value.message
    with pytest.raises(AuthRejected):
        op.read(200, body({"ok": False, "error": "invalid_auth"}))
    assert op.rejects_token(200, body({"ok": False, "error": "token_revoked"}))
    assert not op.rejects_token(200, body({"ok": True}))

    def never():
        pytest.fail("a GitHub answer's body is not parsed to look for Slack's ok")

    assert not OPS["github.repos.get"].rejects_token(200, never)


def test_status_and_bad_json_are_errors_that_never_echo_the_body():
    op = OPS["github.repos.get"]
    with pytest.raises(AnswerError) as gone:
        op.read(404, body({}))
    assert (gone.value.kind, gone.value.status) == ("not_found", 404)
    with pytest.raises(AnswerError) as odd:
        op.read(200, lambda: json.loads(b"<html>"))
    assert odd.value.kind == "refused"


def test_next_page_from_link_header_and_from_cursor():
    link = '<https://api.github.com/user/repos?page=3&per_page=5>; rel="next"'
    assert OPS["github.repos.list"].next_page({"Link": link}, []) == "3"
    assert OPS["github.repos.list"].next_page({}, []) is None
    cursor = {"ok": True, "response_metadata": {"next_cursor": "dXNlcjpV"}}
    assert OPS["slack.channels.list"].next_page({}, cursor) == "dXNlcjpV"


def test_query_maps_page_and_size_to_the_provider_and_refuses_bad_ones():
    op = OPS["google.drive.files.list"]
    query = op.query({"folder": "F1"}, page="tok", page_size="50")
    assert query["pageToken"] == "tok" and query["pageSize"] == "50"
    assert "'F1' in parents" in query["q"]
    with pytest.raises(BadPage):
        op.query({"folder": "F1"}, page_size="101")  # the broker's pages are up to 100
    with pytest.raises(BadPage):
        OPS["github.repos.list"].query({}, page="abc")  # GitHub pages are numbers


def test_items_are_narrowed_to_the_selection_in_canonical_form():
    repos = [{"full_name": "Octo/Hello"}, {"full_name": "octo/other"}, "junk"]
    assert OPS["github.repos.list"].items(repos, frozenset({"octo/hello"})) == repos[:1]
    files = {"files": [{"id": "a", "parents": ["F1"]}, {"id": "b", "parents": ["F2"]}]}
    assert OPS["google.drive.files.list"].items(files, frozenset({"F1"})) == files["files"][:1]
    history = {"ok": True, "messages": [{"text": "hi"}]}
    assert OPS["slack.messages.list"].items(history, frozenset()) == [{"text": "hi"}]


def test_data_declared_operations_are_the_same_declarations():
    op = operation_from_data(
        "acme",
        {"name": "acme.p.list", "route": "acme/p", "path": "/p", "scope": "s",
         "resource_kind": "project", "list": {"items": ["items"], "id": "key"}},
    )  # fmt: skip
    assert op.items({"items": [{"key": "P1"}, {"key": "P2"}]}, frozenset({"P2"})) == [{"key": "P2"}]
    with pytest.raises(ValueError, match="unknown fields"):
        operation_from_data("acme", {"name": "x", "surprise": 1})
    with pytest.raises(ValueError, match="lacks"):
        operation_from_data("acme", {"name": "x"})


def test_each_provider_declares_how_it_revokes():
    assert (GITHUB.revocation, SLACK.revocation, GOOGLE.revocation) == (
        GITHUB_GRANT, SLACK_AUTH_REVOKE, RFC7009,
    )  # fmt: skip
    assert SANDBOX_GITHUB.revocation is RFC7009  # the sandbox speaks RFC 7009
    tokens = {"client_id": "cid", "secret": "s", "access_token": "at", "refresh_token": "rt"}
    github = GITHUB_GRANT.request("https://api.github.com/applications/{client_id}/grant", **tokens)
    assert (github.method, github.url) == (
        "DELETE",
        "https://api.github.com/applications/cid/grant",
    )
    assert github.options["basic"] == ("cid", "s")
    assert SLACK_AUTH_REVOKE.request("https://slack.com/api/auth.revoke", **tokens).options == {
        "bearer": "at"
    }
    assert RFC7009.request("https://r", **tokens).options["data"]["token"] == "rt"
    # "Already gone" counts as revoked: a disconnect never fails because the person was first.
    assert GITHUB_GRANT.succeeded(404, {}) and not GITHUB_GRANT.succeeded(500, {})
    assert SLACK_AUTH_REVOKE.succeeded(200, {"ok": False, "error": "token_revoked"})
    assert not SLACK_AUTH_REVOKE.succeeded(200, {"ok": False, "error": "ratelimited"})
    assert RFC7009.succeeded(400, {"error": "invalid_token"}) and not RFC7009.succeeded(401, {})
