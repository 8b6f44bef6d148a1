import pytest

from broker import exceptions
from broker.checks import validate
from broker.upstream import build_url
from connections.providers import BUILTIN, all_operations, service_declarations
from connections.providers.kinds import KINDS

ADAPTERS = service_declarations()
OPERATIONS = all_operations()


def test_declarations_are_consistent_with_the_catalog():
    assert validate() == []


def test_every_operation_from_the_issue_is_declared():
    # The built-in ones; the suite's PROVIDERS_FILE adds the data-declared acme.* and globex.*.
    assert {"acme.projects.list", "acme.projects.get", "globex.notebooks.list"} <= set(OPERATIONS)
    assert {op.name for a in BUILTIN for op in a.operations} == {
        "github.repos.list",
        "github.repos.get",
        "github.contents.get",
        "github.issues.list",
        "github.issues.create",
        "github.issue_comments.create",
        # issue 13: the organisation-narrowed scope, end to end.
        "github.orgs.list",
        "slack.channels.list",
        "slack.messages.list",
        "slack.messages.post",
        "google.drive.files.list",
        "google.drive.files.get",
        "google.drive.files.download",
        "google.drive.files.create",
    }


@pytest.mark.parametrize("op", [op for a in ADAPTERS for op in a.operations], ids=lambda o: o.name)
def test_contract_every_operation(op):
    """The contract each declaration meets: a scope of its service, a resource kind, a path that
    only names declared parameters, writes are never retried."""
    assert op.scope.startswith(f"services.{op.service}.")
    assert op.resource_kind in KINDS
    assert op.upstream_path.startswith("/")
    if op.is_write:
        assert not op.idempotent and op.body_fields
    if op.resource_params:
        assert op.resource_of({p: "x" for p in op.resource_params}) is not None
    assert op.list_filter is not None or op.resource_params or op.parent_check


def test_canonical_params_name_exactly_what_was_checked():
    op = OPERATIONS["github.repos.get"]
    assert op.canonical_params({"owner": "Octo", "repo": "Hello"}) == {
        "owner": "octo",
        "repo": "hello",
    }


@pytest.mark.parametrize(
    "value", ["../../evil", "a/b", "@evil.com", "x?y=1", "x#frag", "%2e%2e", "http://evil"]
)
def test_build_url_never_leaves_the_base(value):
    url = build_url(
        "http://127.0.0.1:9/api", "/repos/{owner}/{repo}", {"owner": "o", "repo": value}
    )
    assert url.startswith("http://127.0.0.1:9/api/repos/o/")
    assert "/" not in url.removeprefix("http://127.0.0.1:9/api/repos/o/")
    assert "?" not in url and "#" not in url


@pytest.mark.parametrize("path", ["../x", "a/../../b", "a//b", "./a", ""])
def test_file_paths_refuse_dot_segments(path):
    with pytest.raises(exceptions.InvalidRequest):
        build_url("http://h/api", "/c/{path}", {"path": path}, path_params=("path",))


def test_file_path_segments_are_encoded():
    url = build_url("http://h/api", "/c/{path}", {"path": "dir/a b?.md"}, path_params=("path",))
    assert url == "http://h/api/c/dir/a%20b%3F.md"
