import pytest

from connections.providers.kinds import canonical_or_error as canonical_id
from connections.resources import Resource, list_resources


@pytest.mark.parametrize(
    "kind,raw,expected",
    [
        ("repository", "Octo-Demo/Docs", "octo-demo/docs"),
        ("repository", "octo-demo%2Fdocs", "octo-demo/docs"),
        ("channel", "c0general1", "C0GENERAL1"),
        ("folder", "1FoldProjectsAda", "1FoldProjectsAda"),
        ("organisation", "Octo-Demo", "octo-demo"),
    ],
)
def test_canonical_id(kind, raw, expected):
    assert canonical_id(kind, raw) == expected


@pytest.mark.parametrize(
    "kind,raw",
    [
        ("repository", "docs"),
        # One canonicaliser with the broker (issue 13): padding is not trimmed into an id.
        ("repository", " /octo-demo/docs/ "),
        ("repository", "a/b/c"),
        ("repository", "../etc"),
        ("repository", ""),
        ("repository", "a%2F..%2Fb"),
        ("channel", "general"),
        ("folder", "a/b"),
        ("folder", "'x' or 1"),
        ("planet", "x"),
    ],
)
def test_canonical_id_rejects(kind, raw):
    with pytest.raises(ValueError):
        canonical_id(kind, raw)


@pytest.mark.django_db(transaction=True)
def test_list_resources_through_each_provider(make_connection):
    gh = make_connection()
    repos = list_resources(gh, "repository")
    assert Resource("octo-demo/docs", "octo-demo/docs") in repos
    assert len(repos) == 39  # more than one page of the sandbox's 30 default
    assert list_resources(gh, "organisation") == [Resource("octo-demo", "octo-demo")]
    slack = make_connection(flavour="sandbox_slack", uid="U0ALICE01", scopes=("channels:read",))
    channels = list_resources(slack, "channel")
    assert Resource("C0GENERAL1", "#general") in channels and len(channels) == 15
    drive = make_connection(
        flavour="sandbox_google",
        uid="110001",
        scopes=("https://www.googleapis.com/auth/drive.readonly",),
    )
    folders = {r.id for r in list_resources(drive, "folder")}
    assert folders == {"1FoldProjectsAda", "1FoldReportsAda", "1FoldArchiveAda"}
    with pytest.raises(ValueError):
        list_resources(gh, "channel")


@pytest.mark.django_db(transaction=True)
def test_list_resources_refreshes_after_a_401(make_connection):
    from django.utils import timezone

    from connections.sandbox.models import SandboxToken, digest

    gh = make_connection()
    SandboxToken.objects.filter(token_digest=digest(gh.access_token)).update(
        revoked_at=timezone.now()
    )
    assert len(list_resources(gh, "repository")) == 39
