"""Grant and pending-action services: every change recorded, before and after."""

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from audit.actions import Action, ActorType
from audit.models import AuditEvent
from connections.signals import connection_revoked
from consent import services, tasks
from consent.approval_plan import ApprovalPlan
from consent.models import GrantChange, PendingAction
from consent.signals import pending_action_approved
from tests.consent.helpers import BACKGROUND, GH_READ, GH_WRITE, SLACK_READ, github, make_app, slack
from tests.factories import GrantFactory, UserFactory

pytestmark = pytest.mark.django_db

R1 = {"id": "octo/repo1", "label": "octo/repo1"}
R2 = {"id": "octo/repo2", "label": "octo/repo2"}


def last(action):
    return AuditEvent.objects.filter(action=action).order_by("-id").first()


def issue_tokens(grant):
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    token = AccessToken.objects.create(
        user=grant.user,
        application=grant.app.client,
        token="at-" + str(grant.pk),
        expires=timezone.now() + timedelta(minutes=10),
        scope=" ".join(grant.scopes),
    )
    RefreshToken.objects.create(
        user=grant.user,
        application=grant.app.client,
        token="rt-" + str(grant.pk),
        access_token=token,
    )
    return token


# --- grant_approve ----------------------------------------------------------------------------------


def test_approve_creates_then_grows_never_replaces():
    user = UserFactory()
    app = make_app([GH_READ, GH_WRITE, SLACK_READ])
    first = ApprovalPlan((GH_READ,), (GH_READ,), (), {"github": 7})
    grant = services.grant_approve(
        user=user, app=app, plan=first, resources={GH_READ: [R1]}, duration="forever"
    )
    second = ApprovalPlan((GH_READ, GH_WRITE), (GH_WRITE,), (), {"github": 7})
    grant = services.grant_approve(
        user=user, app=app, plan=second, resources={GH_WRITE: [R2]}, duration="30d"
    )
    assert grant.scopes == [GH_READ, GH_WRITE]
    assert grant.resources == {GH_READ: [R1], GH_WRITE: [R2]}
    assert grant.duration == "30d" and grant.expires_at > timezone.now() + timedelta(days=29)
    changes = list(GrantChange.objects.filter(grant=grant).order_by("pk"))
    assert [c.after["scopes"] for c in changes] == [[GH_READ], sorted([GH_READ, GH_WRITE])]
    assert changes[1].before["scopes"] == [GH_READ]
    assert last(Action.CONSENT_GRANTED).metadata["incremental"] is True
    assert last(Action.GRANT_CHANGED).metadata["added_scopes"] == [GH_WRITE]


def test_approve_after_revocation_starts_again_from_what_was_approved():
    user = UserFactory()
    app = make_app([GH_READ, GH_WRITE])
    grant = GrantFactory(user=user, app=app, scopes=[GH_READ, GH_WRITE])
    services.grant_revoke(grant=grant, actor=user, reason="bye")
    plan = ApprovalPlan((GH_READ,), (GH_READ,), (), {"github": 3})
    grant = services.grant_approve(
        user=user, app=app, plan=plan, resources={GH_READ: [R1]}, duration="1h"
    )
    assert grant.scopes == [GH_READ] and grant.revoked_at is None and grant.is_live()


# --- revoke and narrow -------------------------------------------------------------------------------


def test_revoke_ends_tokens_and_is_recorded():
    user = UserFactory()
    grant = GrantFactory(user=user, scopes=[GH_READ, BACKGROUND])
    issue_tokens(grant)
    services.grant_revoke(grant=grant, actor=user, reason="no longer used")
    grant.refresh_from_db()
    assert grant.revoked_at and not grant.is_live()
    assert not get_access_token_model().objects.exists()
    assert get_refresh_token_model().objects.get().revoked is not None
    event = last(Action.GRANT_REVOKED)
    assert event.actor_type == ActorType.PERSON and event.reason == "no longer used"
    assert GrantChange.objects.get(grant=grant).after["revoked_at"]
    # Twice is harmless and records nothing more.
    services.grant_revoke(grant=grant, actor=user)
    assert AuditEvent.objects.filter(action=Action.GRANT_REVOKED).count() == 1


def test_revoke_by_staff_is_recorded_as_staff():
    grant = GrantFactory()
    staff = UserFactory(is_staff=True)
    services.grant_revoke(grant=grant, actor=staff, reason="abuse")
    assert last(Action.GRANT_REVOKED).actor_type == ActorType.STAFF


def test_narrow_removes_scopes_resources_and_unused_connections():
    grant = GrantFactory(
        scopes=[GH_READ, SLACK_READ],
        connections={"github": 1, "slack": 2},
        resources={GH_READ: [R1, R2], SLACK_READ: [{"id": "C1", "label": "#a"}]},
    )
    services.grant_narrow(
        grant=grant,
        actor=grant.user,
        remove_scopes=[SLACK_READ],
        remove_resources={GH_READ: ["octo/repo2"]},
        reason="less",
    )
    grant.refresh_from_db()
    assert grant.scopes == [GH_READ]
    assert grant.resources == {GH_READ: [R1]}
    assert grant.connections == {"github": 1}
    event = last(Action.GRANT_CHANGED)
    assert event.metadata["removed_scopes"] == [SLACK_READ]
    assert event.actor_type == ActorType.PERSON


def test_narrow_that_changes_nothing_records_nothing():
    grant = GrantFactory(scopes=[GH_READ])
    services.grant_narrow(grant=grant, actor=grant.user, remove_scopes=[GH_WRITE])
    assert not GrantChange.objects.exists() and not last(Action.GRANT_CHANGED)


def test_taking_background_away_ends_refresh_tokens_only():
    grant = GrantFactory(scopes=[GH_READ, BACKGROUND])
    issue_tokens(grant)
    services.grant_narrow(grant=grant, actor=grant.user, remove_scopes=[BACKGROUND])
    assert get_refresh_token_model().objects.get().revoked is not None
    assert get_access_token_model().objects.count() == 1


# --- a disconnected service ----------------------------------------------------------------------------


def test_connection_revoked_signal_drops_it_from_grants():
    user = UserFactory()
    gh, sl = github(user), slack(user)
    grant = GrantFactory(
        user=user,
        scopes=[GH_READ, SLACK_READ],
        connections={"github": gh.pk, "slack": sl.pk},
        resources={GH_READ: [R1], SLACK_READ: [{"id": "C1", "label": "#a"}]},
    )
    other = GrantFactory(scopes=[GH_READ], connections={"github": gh.pk + 1000})
    connection_revoked.send(sender=type(gh), connection=gh)
    grant.refresh_from_db()
    assert grant.connections == {"slack": sl.pk}
    assert GH_READ not in grant.resources and SLACK_READ in grant.resources
    assert grant.scopes == [GH_READ, SLACK_READ]
    change = GrantChange.objects.get(grant=grant)
    assert (
        change.before["connections"]["github"] == gh.pk
        and "github" not in change.after["connections"]
    )
    assert last(Action.GRANT_CHANGED).actor_type == ActorType.SYSTEM
    other.refresh_from_db()
    assert other.connections == {"github": gh.pk + 1000}


# --- expiry ------------------------------------------------------------------------------------------


def test_expiry_task_ends_grants_past_their_end_once():
    now = timezone.now()
    due = GrantFactory(scopes=[GH_READ, BACKGROUND], expires_at=now - timedelta(seconds=1))
    issue_tokens(due)
    later = GrantFactory(expires_at=now + timedelta(hours=1))
    forever = GrantFactory(expires_at=None)
    revoked = GrantFactory(expires_at=now - timedelta(days=1), revoked_at=now - timedelta(days=2))
    assert tasks.expire_grants() == 1
    assert tasks.expire_grants() == 0
    due.refresh_from_db()
    assert due.expired_at is not None
    assert not get_access_token_model().objects.exists()
    assert AuditEvent.objects.filter(action=Action.GRANT_EXPIRED).count() == 1
    assert last(Action.GRANT_EXPIRED).grant_id == due.pk
    for g in (later, forever, revoked):
        g.refresh_from_db()
        assert g.expired_at is None


# --- pending actions ------------------------------------------------------------------------------


def pending(grant, **kwargs):
    defaults = {
        "operation": "github.issues.create",
        "service": "github",
        "scope": GH_WRITE,
        "resource": "octo/repo1",
        "summary": "Open an issue in octo/repo1",
        "body": {"title": "Bug", "body": "It <b>breaks</b>"},
        "expires_at": timezone.now() + timedelta(hours=1),
    }
    defaults.update(kwargs)
    return PendingAction.objects.create(grant=grant, **defaults)


@pytest.fixture
def received():
    calls = []

    def receiver(sender, pending_action, **kwargs):
        calls.append(pending_action.pk)

    pending_action_approved.connect(receiver, dispatch_uid="test-receiver")
    yield calls
    pending_action_approved.disconnect(dispatch_uid="test-receiver")


def test_approve_sends_the_signal_once_on_commit(received, django_capture_on_commit_callbacks):
    grant = GrantFactory(scopes=[GH_WRITE])
    action = pending(grant)
    with django_capture_on_commit_callbacks(execute=True):
        services.pending_action_approve(action_id=action.pk, user=grant.user)
    assert received == [action.pk]
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(services.PendingActionError, match="already decided"),
    ):
        services.pending_action_approve(action_id=action.pk, user=grant.user)
    assert received == [action.pk]
    action.refresh_from_db()
    assert action.status == PendingAction.Status.APPROVED and action.decided_by == grant.user
    assert last(Action.PENDING_ACTION_APPROVED).resource == "octo/repo1"


def test_no_signal_before_commit(received, django_capture_on_commit_callbacks):
    grant = GrantFactory(scopes=[GH_WRITE])
    action = pending(grant)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.pending_action_approve(action_id=action.pk, user=grant.user)
    assert received == [] and len(callbacks) == 1


def test_expired_action_cannot_be_approved(received):
    grant = GrantFactory(scopes=[GH_WRITE])
    action = pending(grant, expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.PendingActionError, match="expired"):
        services.pending_action_approve(action_id=action.pk, user=grant.user)
    action.refresh_from_db()
    assert action.status == PendingAction.Status.CREATED and received == []


def test_action_of_a_revoked_or_narrowed_grant_cannot_be_approved(received):
    grant = GrantFactory(scopes=[GH_WRITE])
    action = pending(grant)
    services.grant_narrow(grant=grant, actor=grant.user, remove_scopes=[GH_WRITE])
    with pytest.raises(services.PendingActionError, match="no longer"):
        services.pending_action_approve(action_id=action.pk, user=grant.user)
    grant2 = GrantFactory(scopes=[GH_WRITE])
    action2 = pending(grant2)
    services.grant_revoke(grant=grant2, actor=grant2.user)
    # Revoking cancelled it (issue 12 item 13): it is rejected, not merely unapprovable.
    with pytest.raises(services.PendingActionError, match="already decided: rejected"):
        services.pending_action_approve(action_id=action2.pk, user=grant2.user)


def test_someone_else_cannot_decide(received):
    action = pending(GrantFactory(scopes=[GH_WRITE]))
    with pytest.raises(services.PendingActionError, match="no such"):
        services.pending_action_approve(action_id=action.pk, user=UserFactory())
    with pytest.raises(services.PendingActionError):
        services.pending_action_reject(action_id=action.pk, user=UserFactory())


def test_reject_records_and_sends_nothing(received):
    grant = GrantFactory(scopes=[GH_WRITE])
    action = pending(grant)
    services.pending_action_reject(action_id=action.pk, user=grant.user)
    action.refresh_from_db()
    assert action.status == PendingAction.Status.REJECTED and received == []
    assert last(Action.PENDING_ACTION_REJECTED).outcome == "denied"


def test_expiry_task_expires_pending_actions():
    grant = GrantFactory(scopes=[GH_WRITE])
    old = pending(grant, expires_at=timezone.now() - timedelta(minutes=1))
    fresh = pending(grant)
    done = pending(
        grant,
        status=PendingAction.Status.PERFORMED,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert tasks.expire_pending_actions() == 1
    old.refresh_from_db(), fresh.refresh_from_db(), done.refresh_from_db()
    assert old.status == PendingAction.Status.EXPIRED
    assert fresh.status == PendingAction.Status.CREATED
    assert done.status == PendingAction.Status.PERFORMED
    assert last(Action.PENDING_ACTION_EXPIRED).metadata["pending_action"] == old.pk


@pytest.mark.postgres
def test_concurrent_double_approval_sends_once(received, transactional_db):
    """Two clicks at once: the row lock lets exactly one through (PostgreSQL row locks)."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks (CI runs it)")
    grant = GrantFactory(scopes=[GH_WRITE])
    action = pending(grant)
    outcomes = []

    def click():
        from django.db import connection as thread_connection

        try:
            services.pending_action_approve(action_id=action.pk, user=grant.user)
            outcomes.append("ok")
        except services.PendingActionError:
            outcomes.append("refused")
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert received == [action.pk]
