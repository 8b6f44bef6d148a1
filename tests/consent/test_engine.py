"""The consent engine, with no database: plain data in, a decision out."""

from datetime import UTC, datetime, timedelta

import pytest

from consent.approval_plan import ChoiceError, grant_expiry, resolve_approval
from consent.engine import (
    AppInfo,
    ConnectionInfo,
    GrantInfo,
    Outcome,
    connection_serves,
    decide,
)
from consent.token_limits import token_lifetime, token_scopes

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GH_READ = "services.github.repositories.read"
GH_WRITE = "services.github.repositories.write"
SLACK_READ = "services.slack.channels.read"
SLACK_WRITE = "services.slack.messages.write"
DRIVE_READ = "services.google.drive.files.read"
PROFILE = "identity.profile.read"
BACKGROUND = "agents.jobs.background"
UNATTENDED = "agents.actions.unattended_writes"
PROVIDERS = ("github", "sandbox_github", "slack", "sandbox_slack", "google", "sandbox_google")


def app(*required, optional=(), background=True, suspended=False, reason=""):
    allowed = {s: True for s in required} | {s: False for s in optional}
    return AppInfo(allowed, background, suspended, reason)


def gh(id_=1, scopes=("repo",), provider="sandbox_github", status="active"):
    return ConnectionInfo(id_, provider, "github", frozenset(scopes), status, f"octo{id_}")


def slack(id_=10, scopes=("channels:read", "channels:history"), provider="sandbox_slack"):
    return ConnectionInfo(id_, provider, "slack", frozenset(scopes), "active", "team")


def run(app_info, requested, connections=(), grant=None, prompt=False, providers=PROVIDERS):
    return decide(
        app=app_info,
        requested=requested,
        connections=connections,
        grant=grant,
        now=NOW,
        available_providers=providers,
        prompt_consent=prompt,
    )


def outcomes(decision):
    return {d.name: d.outcome for d in decision.scopes}


# --- per-scope outcomes -------------------------------------------------------------------------


def test_new_and_satisfiable_with_one_connection():
    d = run(app(GH_READ), [GH_READ], [gh()])
    assert outcomes(d) == {GH_READ: Outcome.NEW}
    assert d.get(GH_READ).candidates == (1,)
    assert d.needs_screen and d.can_approve
    plan = d.service("github")
    assert plan.candidates == (1,) and not plan.needs_choice and plan.upgrades == ()


def test_missing_connection_offers_connect_for_each_available_provider():
    d = run(app(SLACK_READ), [SLACK_READ], [])
    assert outcomes(d) == {SLACK_READ: Outcome.NEEDS_CONNECTION}
    assert not d.can_approve and [b.name for b in d.blockers] == [SLACK_READ]
    connects = {c.provider: c.scopes for c in d.service("slack").connects}
    assert connects == {
        "slack": ("channels:history", "channels:read"),
        "sandbox_slack": ("channels:history", "channels:read"),
    }


def test_connect_only_offers_providers_that_are_available():
    d = run(app(SLACK_READ), [SLACK_READ], [], providers=("sandbox_slack",))
    assert [c.provider for c in d.service("slack").connects] == ["sandbox_slack"]


def test_needs_upgrade_names_the_connection_and_the_missing_provider_scopes():
    d = run(app(GH_READ), [GH_READ], [gh(scopes=("read:user",))])
    assert outcomes(d) == {GH_READ: Outcome.NEEDS_UPGRADE}
    (upgrade,) = d.service("github").upgrades
    assert upgrade.connection_id == 1 and upgrade.missing == ("repo",)
    # The full set to ask for: what the connection has plus what is missing.
    assert upgrade.scopes == ("read:user", "repo")
    assert not d.can_approve


def test_upgrade_is_computed_over_every_scope_of_the_service():
    # Slack read is satisfied, Slack write needs chat:write on the same connection.
    d = run(app(SLACK_READ, SLACK_WRITE), [SLACK_READ, SLACK_WRITE], [slack()])
    assert outcomes(d) == {SLACK_READ: Outcome.NEW, SLACK_WRITE: Outcome.NEEDS_UPGRADE}
    (upgrade,) = d.service("slack").upgrades
    assert upgrade.missing == ("chat:write",)
    assert d.service("slack").candidates == ()


def test_unknown_scope_is_impossible_and_says_why():
    d = run(app(GH_READ), [GH_READ, "services.github.everything"], [gh()])
    decision = d.get("services.github.everything")
    assert decision.outcome == Outcome.IMPOSSIBLE and "no such scope" in decision.reason


def test_scope_not_allowed_for_the_app_is_impossible():
    d = run(app(GH_READ), [GH_READ, GH_WRITE], [gh()])
    assert d.get(GH_WRITE).outcome == Outcome.IMPOSSIBLE
    assert "not allowed" in d.get(GH_WRITE).reason
    # Not in the app's allowance: not declinable, so it blocks the approval.
    assert not d.can_approve


def test_scope_no_connection_can_satisfy_when_no_provider_is_available():
    d = run(app(DRIVE_READ), [DRIVE_READ], [], providers=("github", "slack"))
    decision = d.get(DRIVE_READ)
    assert decision.outcome == Outcome.IMPOSSIBLE
    assert "cannot be connected" in decision.reason
    assert not d.can_approve
    assert d.service("google") is None


def test_background_refused_for_an_app_not_approved_for_it():
    d = run(app(GH_READ, BACKGROUND, background=False), [GH_READ, BACKGROUND], [gh()])
    assert d.get(BACKGROUND).outcome == Outcome.IMPOSSIBLE
    # Background is always declinable, so the rest can still be approved.
    assert d.can_approve


def test_background_and_unattended_writes_are_always_declinable_choices():
    d = run(app(GH_READ, BACKGROUND, UNATTENDED), [GH_READ, BACKGROUND, UNATTENDED], [gh()])
    assert d.get(BACKGROUND).declinable and d.get(BACKGROUND).is_platform_choice
    assert d.get(UNATTENDED).declinable
    assert not d.get(GH_READ).declinable


def test_profile_scope_needs_no_connection():
    d = run(app(PROFILE), [PROFILE], [])
    assert outcomes(d) == {PROFILE: Outcome.NEW}
    assert d.can_approve and d.services == ()


def test_inactive_connections_do_not_count():
    revoked = gh(status="revoked")
    needs_reauth = gh(2, status="needs_reauth")
    d = run(app(GH_READ), [GH_READ], [revoked, needs_reauth])
    assert d.get(GH_READ).outcome == Outcome.NEEDS_CONNECTION


def test_connection_of_another_service_does_not_count():
    d = run(app(GH_READ), [GH_READ], [slack()])
    assert d.get(GH_READ).outcome == Outcome.NEEDS_CONNECTION


def test_duplicate_requested_scopes_are_decided_once():
    d = run(app(GH_READ), [GH_READ, GH_READ], [gh()])
    assert [s.name for s in d.scopes] == [GH_READ]


# --- two connections of one provider ----------------------------------------------------------


def test_two_connections_of_one_provider_ask_which_one():
    d = run(app(GH_READ), [GH_READ], [gh(1), gh(2)])
    plan = d.service("github")
    assert plan.candidates == (1, 2) and plan.needs_choice
    with pytest.raises(ChoiceError, match="Choose which GitHub account"):
        resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh(1), gh(2)])
    approved = resolve_approval(
        d, accepted=[], chosen_connections={"github": 2}, connections=[gh(1), gh(2)]
    )
    assert approved.connections == {"github": 2}


def test_two_connections_only_one_of_which_satisfies():
    narrow, full = gh(1, scopes=("read:user",)), gh(2)
    d = run(app(GH_READ), [GH_READ], [narrow, full])
    assert d.get(GH_READ).outcome == Outcome.NEW
    plan = d.service("github")
    assert plan.candidates == (2,) and not plan.needs_choice
    assert [u.connection_id for u in plan.upgrades] == [1]
    approved = resolve_approval(d, accepted=[], chosen_connections={}, connections=[narrow, full])
    assert approved.connections == {"github": 2}
    with pytest.raises(ChoiceError):
        resolve_approval(d, accepted=[], chosen_connections={"github": 1}, connections=[narrow])


def test_picking_someone_elses_or_unknown_connection_is_refused():
    d = run(app(GH_READ), [GH_READ], [gh(1), gh(2)])
    with pytest.raises(ChoiceError):
        resolve_approval(d, accepted=[], chosen_connections={"github": 99}, connections=[gh(1)])


def test_the_grants_pinned_connection_governs_the_service():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 2})
    d = run(app(GH_READ, GH_WRITE), [GH_READ, GH_WRITE], [gh(1), gh(2)], grant=grant)
    assert outcomes(d) == {GH_READ: Outcome.GRANTED, GH_WRITE: Outcome.NEW}
    plan = d.service("github")
    assert plan.pinned == 2 and plan.candidates == (2,) and not plan.needs_choice
    with pytest.raises(ChoiceError):
        resolve_approval(d, accepted=[], chosen_connections={"github": 1}, connections=[gh(1)])


def test_real_and_sandbox_connections_of_one_service_are_both_candidates():
    d = run(app(GH_READ), [GH_READ], [gh(1, provider="github"), gh(2)])
    assert d.service("github").candidates == (1, 2)


# --- the existing grant -------------------------------------------------------------------------


def test_everything_granted_needs_no_screen():
    grant = GrantInfo(frozenset({GH_READ, SLACK_READ}), {"github": 1, "slack": 10})
    d = run(app(GH_READ, SLACK_READ), [GH_READ, SLACK_READ], [gh(), slack()], grant=grant)
    assert d.all_granted and not d.needs_screen


def test_prompt_consent_forces_the_screen():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1})
    d = run(app(GH_READ), [GH_READ], [gh()], grant=grant, prompt=True)
    assert d.all_granted and d.needs_screen


def test_delta_only_the_new_scope_is_new():
    grant = GrantInfo(frozenset({GH_READ, SLACK_READ}), {"github": 1, "slack": 10})
    d = run(
        app(GH_READ, SLACK_READ, GH_WRITE), [GH_READ, SLACK_READ, GH_WRITE], [gh(), slack()], grant
    )
    assert d.by_outcome(Outcome.NEW) == (d.get(GH_WRITE),)
    assert {s.name for s in d.by_outcome(Outcome.GRANTED)} == {GH_READ, SLACK_READ}
    approved = resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh(), slack()])
    assert approved.added == (GH_WRITE,)
    assert set(approved.token_scopes) == {GH_READ, SLACK_READ, GH_WRITE}


def test_grant_past_its_expiry_grants_nothing():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, expires_at=NOW - timedelta(seconds=1))
    d = run(app(GH_READ), [GH_READ], [gh()], grant=grant)
    assert d.get(GH_READ).outcome == Outcome.NEW
    assert not d.grant_live and d.needs_screen
    # Nothing is pinned by a dead grant: the person chooses again.
    assert d.service("github").pinned is None


def test_grant_exactly_at_its_expiry_is_expired():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, expires_at=NOW)
    assert not run(app(GH_READ), [GH_READ], [gh()], grant=grant).grant_live


def test_grant_before_its_expiry_is_live():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, expires_at=NOW + timedelta(minutes=1))
    assert not run(app(GH_READ), [GH_READ], [gh()], grant=grant).needs_screen


def test_revoked_grant_grants_nothing():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, revoked_at=NOW - timedelta(days=1))
    d = run(app(GH_READ), [GH_READ], [gh()], grant=grant)
    assert d.get(GH_READ).outcome == Outcome.NEW and d.needs_screen


def test_granted_scope_whose_connection_was_revoked_stays_granted():
    # The grant covers it; the broker answers connection_needs_reauthorization on each call.
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1})
    d = run(app(GH_READ), [GH_READ], [gh(1, status="revoked"), gh(2)], grant=grant)
    assert d.get(GH_READ).outcome == Outcome.GRANTED and not d.needs_screen
    assert d.service("github").pinned is None


def test_delta_after_a_revoked_connection_pins_a_working_one():
    grant = GrantInfo(frozenset({GH_READ}), {})
    d = run(app(GH_READ, GH_WRITE), [GH_READ, GH_WRITE], [gh(2)], grant=grant)
    assert outcomes(d) == {GH_READ: Outcome.GRANTED, GH_WRITE: Outcome.NEW}
    approved = resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh(2)])
    assert approved.connections == {"github": 2}


def test_nothing_new_for_a_service_leaves_its_connection_alone():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1})
    d = run(app(GH_READ, SLACK_READ), [GH_READ, SLACK_READ], [gh(1), gh(2), slack()], grant)
    approved = resolve_approval(
        d, accepted=[], chosen_connections={}, connections=[gh(1), gh(2), slack()]
    )
    assert approved.connections == {"slack": 10}


def test_suspended_app_always_shows_the_screen_and_cannot_be_approved():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1})
    d = run(app(GH_READ, suspended=True, reason="Spam"), [GH_READ], [gh()], grant=grant)
    assert d.needs_screen and not d.can_approve and d.suspension_reason == "Spam"
    with pytest.raises(ChoiceError, match="suspended"):
        resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh()])


# --- optional scopes and choices ----------------------------------------------------------------


def test_optional_scope_declined_keeps_the_rest():
    d = run(
        app(GH_READ, optional=(SLACK_READ,)),
        [GH_READ, SLACK_READ, BACKGROUND],
        [gh(), slack()],
    )
    assert d.get(SLACK_READ).declinable and not d.get(GH_READ).declinable
    approved = resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh(), slack()])
    assert approved.token_scopes == (GH_READ,)
    # Background is not allowed for this app at all: impossible, not "declined".
    assert set(approved.declined) == {SLACK_READ}
    assert approved.connections == {"github": 1}


def test_optional_scope_accepted():
    d = run(app(GH_READ, optional=(SLACK_READ,)), [GH_READ, SLACK_READ], [gh(), slack()])
    approved = resolve_approval(
        d, accepted=[SLACK_READ], chosen_connections={}, connections=[gh(), slack()]
    )
    assert approved.token_scopes == (GH_READ, SLACK_READ)
    assert approved.connections == {"github": 1, "slack": 10}


def test_optional_scope_missing_a_connection_does_not_block():
    d = run(app(GH_READ, optional=(SLACK_READ,)), [GH_READ, SLACK_READ], [gh()])
    assert d.get(SLACK_READ).outcome == Outcome.NEEDS_CONNECTION
    assert d.can_approve
    # Even if the form says it was accepted, an unsatisfiable scope is never approved.
    approved = resolve_approval(d, accepted=[SLACK_READ], chosen_connections={}, connections=[gh()])
    assert approved.token_scopes == (GH_READ,)


def test_required_missing_scope_blocks_approval():
    d = run(app(GH_READ, SLACK_READ), [GH_READ, SLACK_READ], [gh()])
    with pytest.raises(ChoiceError, match="missing"):
        resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh()])


def test_background_turned_on_is_granted():
    d = run(app(GH_READ, BACKGROUND), [GH_READ, BACKGROUND], [gh()])
    approved = resolve_approval(d, accepted=[BACKGROUND], chosen_connections={}, connections=[gh()])
    assert set(approved.added) == {GH_READ, BACKGROUND}


def test_background_alone_is_not_an_approval():
    d = run(app(BACKGROUND), [BACKGROUND], [])
    with pytest.raises(ChoiceError):
        resolve_approval(d, accepted=[BACKGROUND], chosen_connections={}, connections=[])


def test_all_optional_declined_leaves_nothing_to_approve():
    d = run(app(optional=(GH_READ,)), [GH_READ], [gh()])
    with pytest.raises(ChoiceError, match="Nothing"):
        resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh()])


def test_empty_request_cannot_be_approved():
    d = run(app(GH_READ), [], [gh()])
    assert not d.can_approve and d.needs_screen


# --- helpers --------------------------------------------------------------------------------------


def test_connection_serves_checks_provider_scopes_and_service():
    assert connection_serves(gh(), [GH_READ, GH_WRITE])
    assert not connection_serves(gh(), [SLACK_READ])
    assert not connection_serves(gh(scopes=("public_repo",)), [GH_READ])
    assert not connection_serves(gh(status="revoked"), [GH_READ])
    # A provider the scope does not name cannot serve it.
    odd = ConnectionInfo(5, "gitlab", "github", frozenset({"repo"}))
    assert not connection_serves(odd, [GH_READ])


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("session", NOW + timedelta(minutes=60)),
        ("1h", NOW + timedelta(hours=1)),
        ("30d", NOW + timedelta(days=30)),
        ("forever", None),
    ],
)
def test_grant_expiry(duration, expected):
    assert grant_expiry(duration, now=NOW, session_window=timedelta(minutes=60)) == expected


def test_grant_expiry_refuses_unknown_duration():
    with pytest.raises(ChoiceError):
        grant_expiry("1y", now=NOW, session_window=timedelta(minutes=60))


def test_token_lifetime_never_outlives_the_grant():
    assert token_lifetime(600, grant_expires_at=None, now=NOW) == 600
    assert token_lifetime(600, grant_expires_at=NOW + timedelta(seconds=90), now=NOW) == 90
    assert token_lifetime(600, grant_expires_at=NOW + timedelta(hours=2), now=NOW) == 600
    assert token_lifetime(600, grant_expires_at=NOW - timedelta(seconds=5), now=NOW) == 0


def test_token_scopes_never_outgrow_the_grant():
    assert token_scopes([GH_READ, GH_WRITE, GH_READ], [GH_READ]) == [GH_READ]
    assert token_scopes([GH_READ], []) == []


# --- declined before ------------------------------------------------------------------------------


def test_a_choice_declined_before_is_not_asked_again():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, declined=frozenset({BACKGROUND}))
    d = run(app(GH_READ, BACKGROUND), [GH_READ, BACKGROUND], [gh()], grant=grant)
    assert outcomes(d) == {GH_READ: Outcome.GRANTED, BACKGROUND: Outcome.DECLINED}
    assert not d.needs_screen and d.granted_names == (GH_READ,)


def test_prompt_consent_asks_a_declined_choice_again():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, declined=frozenset({BACKGROUND}))
    d = run(app(GH_READ, BACKGROUND), [GH_READ, BACKGROUND], [gh()], grant=grant, prompt=True)
    assert d.get(BACKGROUND).outcome == Outcome.NEW


def test_declined_before_means_nothing_once_the_grant_ended():
    grant = GrantInfo(
        frozenset({GH_READ}),
        {"github": 1},
        expires_at=NOW - timedelta(hours=1),
        declined=frozenset({SLACK_READ}),
    )
    d = run(app(GH_READ, optional=(SLACK_READ,)), [GH_READ, SLACK_READ], [gh(), slack()], grant)
    assert d.get(SLACK_READ).outcome == Outcome.NEW


def test_a_scope_now_required_is_asked_even_if_declined_before():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, declined=frozenset({SLACK_READ}))
    d = run(app(GH_READ, SLACK_READ), [GH_READ, SLACK_READ], [gh(), slack()], grant)
    assert d.get(SLACK_READ).outcome == Outcome.NEW and d.needs_screen


def test_only_declined_and_nothing_granted_needs_the_screen():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, declined=frozenset({SLACK_READ}))
    d = run(app(GH_READ, optional=(SLACK_READ,)), [SLACK_READ], [gh(), slack()], grant)
    assert d.get(SLACK_READ).outcome == Outcome.DECLINED and d.needs_screen


def test_declined_before_can_be_accepted_on_a_later_screen():
    grant = GrantInfo(frozenset({GH_READ}), {"github": 1}, declined=frozenset({BACKGROUND}))
    d = run(app(GH_READ, GH_WRITE, BACKGROUND), [GH_READ, GH_WRITE, BACKGROUND], [gh()], grant)
    approved = resolve_approval(d, accepted=[BACKGROUND], chosen_connections={}, connections=[gh()])
    assert set(approved.added) == {GH_WRITE, BACKGROUND} and approved.declined == ()
    again = resolve_approval(d, accepted=[], chosen_connections={}, connections=[gh()])
    assert again.declined == (BACKGROUND,)
