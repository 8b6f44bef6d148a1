"""The broker's decision, without a database: every refusal, in order, and canonical ids."""

from datetime import UTC, datetime, timedelta

import pytest

from broker.policy import (
    BACKGROUND_SCOPE,
    UNATTENDED_WRITES_SCOPE,
    CallFacts,
    ConnectionFacts,
    GrantFacts,
    TokenFacts,
    check_job,
    decide,
)
from connections.providers.kinds import canonical as canonical_resource

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=60)
READ = "services.github.repositories.read"
WRITE = "services.github.repositories.write"


def token(**kw):
    base = dict(
        scopes=frozenset({READ, WRITE, BACKGROUND_SCOPE, UNATTENDED_WRITES_SCOPE}),
        issued_at=NOW - timedelta(minutes=1),
        expires_at=NOW + timedelta(minutes=9),
    )
    base.update(kw)
    return TokenFacts(**base)


def grant(**kw):
    base = dict(
        scopes=frozenset({READ, WRITE}),
        resources={READ: frozenset({"octo/hello"}), WRITE: frozenset({"octo/hello"})},
    )
    base.update(kw)
    return GrantFacts(**base)


CONN = ConnectionFacts(service="github", active=True, owned_by_grant_user=True)


def call(**kw):
    base = dict(scope=READ, service="github", resource_kind="repository", resource="octo/hello")
    base.update(kw)
    return CallFacts(**base)


def run(t=None, g="default", c=CONN, k=None):
    return decide(
        token=t or token(),
        grant=grant() if g == "default" else g,
        connection=c,
        call=k or call(),
        now=NOW,
        session_window=WINDOW,
    )


def code(decision):
    return decision.refusal.code if decision.refusal else None


def test_allowed_read_in_session():
    d = run()
    assert d.allowed and not d.background and not d.pending
    assert d.resource == "octo/hello"


def test_expired_token_is_invalid():
    assert code(run(t=token(expires_at=NOW))) == "invalid_token"


def test_no_grant_is_refused():
    assert code(run(g=None)) == "grant_revoked"


def test_suspended_app_comes_before_revocation():
    assert code(run(g=grant(app_suspended=True, revoked=True))) == "app_suspended"


def test_revoked_grant():
    assert code(run(g=grant(revoked=True))) == "grant_revoked"


def test_expired_grant():
    assert code(run(g=grant(expires_at=NOW))) == "grant_revoked"
    assert run(g=grant(expires_at=NOW + timedelta(seconds=1))).allowed


def test_scope_must_be_in_token_and_grant():
    # Token has it, grant lost it (narrowed after the token was issued).
    d = run(g=grant(scopes=frozenset({WRITE})))
    assert code(d) == "insufficient_scope" and d.refusal.details["scope"] == READ
    # Grant has it, token was issued without it.
    assert code(run(t=token(scopes=frozenset({WRITE})))) == "insufficient_scope"


def test_platform_call_without_scope_needs_only_a_live_grant():
    d = run(k=CallFacts(scope=None), c=None)
    assert d.allowed


@pytest.mark.parametrize(
    "conn",
    [
        None,
        ConnectionFacts(service="github", active=False, owned_by_grant_user=True),
        ConnectionFacts(service="github", active=True, owned_by_grant_user=False),
        ConnectionFacts(service="slack", active=True, owned_by_grant_user=True),
    ],
)
def test_connection_must_be_active_owned_and_of_the_service(conn):
    assert code(run(c=conn)) == "connection_needs_reauthorization"


@pytest.mark.parametrize(
    "spelling",
    [
        "octo/other",
        "octo/hello2",
        "octo/hello.",
        "octo/hello/",
        "octo/hello.git",
        "octo%2Fother",
        "octo/hello/../other",
        "octo/./hello",
        "octo/../octo/hello",
        "\uff4f\uff43\uff54\uff4f/other",
        "octo/hell\u043e",  # Cyrillic o
        "octo/hello\u200b",
        "octo/hello\x00",
        " octo/hello",
        "octo//hello",
        "",
        "octo",
        "%252e%252e/hello",
        "%25252525252F",
    ],
)
def test_unselected_or_malformed_repository_is_refused(spelling):
    assert code(run(k=call(resource=spelling))) == "resource_not_granted"


@pytest.mark.parametrize(
    "spelling",
    ["octo/hello", "Octo/Hello", "OCTO/HELLO", "octo%2Fhello", "octo%252Fhello", "Octo%2FHello"],
)
def test_spellings_of_the_selected_repository_are_allowed(spelling):
    d = run(k=call(resource=spelling))
    assert d.allowed and d.resource == "octo/hello"


def test_fullwidth_spelling_of_selected_repo_maps_to_ascii_or_is_refused():
    # NFKC folds full-width letters to ASCII: it names the same repository, not another one.
    d = run(k=call(resource="\uff4f\uff43\uff54\uff4f/\uff48\uff45\uff4c\uff4c\uff4f"))
    assert d.allowed and d.resource == "octo/hello"


def test_write_selection_is_separate_from_read_selection():
    g = grant(
        resources={READ: frozenset({"octo/hello", "octo/other"}), WRITE: frozenset({"octo/hello"})}
    )
    assert run(g=g, k=call(resource="octo/other")).allowed
    assert code(run(g=g, k=call(scope=WRITE, is_write=True, resource="octo/other"))) == (
        "resource_not_granted"
    )


def test_list_call_without_resource_is_allowed_and_filtered_later():
    d = run(k=call(resource=None))
    assert d.allowed and d.resource == ""


def test_drive_file_checked_by_parents():
    scope = "services.google.drive.files.read"
    g = grant(scopes=frozenset({scope}), resources={scope: frozenset({"FolderA"})})
    t = token(scopes=frozenset({scope}))
    ok = CallFacts(
        scope=scope, resource_kind="folder", resource="f1", resource_parents=("X", "FolderA")
    )
    assert run(t=t, g=g, c=None, k=ok).allowed
    bad = CallFacts(
        scope=scope, resource_kind="folder", resource="f1", resource_parents=("foldera",)
    )
    assert code(run(t=t, g=g, c=None, k=bad)) == "resource_not_granted"
    none = CallFacts(scope=scope, resource_kind="folder", resource="f1", resource_parents=())
    assert code(run(t=t, g=g, c=None, k=none)) == "resource_not_granted"


def test_session_token_after_window_needs_background():
    old = token(issued_at=NOW - WINDOW - timedelta(seconds=1))
    d = run(t=old)
    assert code(d) == "background_not_allowed" and d.background
    d = run(t=old, g=grant(scopes=frozenset({READ, WRITE, BACKGROUND_SCOPE})))
    assert d.allowed and d.background


@pytest.mark.parametrize("kind", ["from_refresh", "client_credentials"])
def test_refresh_and_client_credentials_are_background(kind):
    t = token(**{kind: True})
    assert code(run(t=t)) == "background_not_allowed"
    d = run(t=t, g=grant(scopes=frozenset({READ, WRITE, BACKGROUND_SCOPE})))
    assert d.allowed and d.background


def test_background_checked_after_resource():
    t = token(from_refresh=True)
    assert code(run(t=t, k=call(resource="octo/other"))) == "resource_not_granted"


def test_write_is_pending_without_unattended_writes():
    w = call(scope=WRITE, is_write=True)
    assert run(k=w).pending
    g = grant(scopes=frozenset({READ, WRITE, UNATTENDED_WRITES_SCOPE}))
    assert not run(g=g, k=w).pending
    # The grant has it but this token was issued without it: still pending.
    t = token(scopes=frozenset({READ, WRITE}))
    assert run(t=t, g=g, k=w).pending


def test_read_is_never_pending():
    assert not run().pending


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("repository", "Octo-Org/My.Repo_1", "octo-org/my.repo_1"),
        ("repository", "-octo/x", None),
        ("repository", "octo/..", None),
        ("channel", "c0123abc", "C0123ABC"),
        ("channel", "C01%2F", None),
        ("channel", "C01 23", None),
        ("folder", "1AbC-_x", "1AbC-_x"),
        ("folder", "1abc/../x", None),
        ("folder", "", None),
        ("unknown", "x", None),
        ("repository", None, None),
    ],
)
def test_canonical_resource(kind, raw, expected):
    assert canonical_resource(kind, raw) == expected


def test_check_job():
    g = grant(scopes=frozenset({READ, BACKGROUND_SCOPE}))
    assert check_job(grant=g, scopes=frozenset({READ}), now=NOW).allowed
    assert not check_job(grant=None, scopes=frozenset(), now=NOW).allowed
    r = check_job(grant=grant(), scopes=frozenset({READ}), now=NOW)
    assert not r.allowed and BACKGROUND_SCOPE in r.reason
    r = check_job(grant=g, scopes=frozenset({WRITE}), now=NOW)
    assert not r.allowed and WRITE in r.reason
    for bad in (
        grant(scopes=g.scopes, revoked=True),
        grant(scopes=g.scopes, app_suspended=True),
        grant(scopes=g.scopes, expires_at=NOW),
    ):
        assert not check_job(grant=bad, scopes=frozenset({READ}), now=NOW).allowed
