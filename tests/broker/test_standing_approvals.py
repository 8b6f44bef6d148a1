""" "Approve similar for 24 h": a second write of the same operation on the same resource by the
same app goes through without a new approval, audited as approved by the standing approval, and
stops needing nothing once the person ends it early."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from consent.models import PendingAction, StandingApproval
from consent.services import pending_action_approve, standing_approval_end
from tests.broker.test_pending_and_jobs import eager as _eager
from tests.broker.test_pending_and_jobs import hold_issue

eager = _eager  # the fixture, shared


def test_approve_similar_lets_the_next_write_through_until_ended(
    world,
    eager,
    django_capture_on_commit_callbacks,
):
    first = hold_issue(world)
    action = PendingAction.objects.get(pk=first["id"])
    # The approvals page shows the exact provider request.
    assert action.downstream["method"] == "POST"
    assert action.downstream["url"].endswith("/repos/octo/hello/issues")
    assert action.downstream["body"] == {"title": "Held", "body": "text"}
    with django_capture_on_commit_callbacks(execute=True):
        pending_action_approve(action_id=action.pk, user=world.user, similar_for_24h=True)
    standing = StandingApproval.objects.get()
    assert standing.operation == action.operation and standing.resource == "octo/hello"
    assert timedelta(hours=23) < standing.expires_at - timezone.now() <= timedelta(hours=24)
    assert len(world.fake.issues) == 1

    # The second write: no new approval, performed at once, audited as approved by it.
    with django_capture_on_commit_callbacks(execute=True):
        second = hold_issue(world)
    row = PendingAction.objects.get(pk=second["id"])
    assert row.standing_approval_id == standing.pk and row.decided_by is None
    assert row.status == PendingAction.Status.PERFORMED
    assert len(world.fake.issues) == 2
    approved = AuditEvent.objects.filter(
        action=Action.PENDING_ACTION_APPROVED, metadata__pending_action=row.pk
    ).get()
    assert approved.metadata["standing_approval"] == standing.pk
    assert approved.actor_type == "system" and "standing approval" in approved.reason

    # Another resource is not covered.
    r = world.post("github/repos/Octo/Other/issues", {"title": "x", "body": "y"})
    if r.status_code == 202:
        assert PendingAction.objects.get(pk=r.json()["pending_action"]["id"]).status == "pending"

    # Ended early: the next one waits for the person again.
    standing_approval_end(approval_id=standing.pk, user=world.user)
    with django_capture_on_commit_callbacks(execute=True):
        third = hold_issue(world)
    assert PendingAction.objects.get(pk=third["id"]).status == PendingAction.Status.CREATED
    assert len(world.fake.issues) == 2


def test_someone_else_cannot_end_a_standing_approval(world, eager):
    from consent.pending import PendingActionError
    from tests.factories import UserFactory

    first = hold_issue(world)
    pending_action_approve(action_id=first["id"], user=world.user, similar_for_24h=True)
    with pytest.raises(PendingActionError):
        standing_approval_end(approval_id=StandingApproval.objects.get().pk, user=UserFactory())
    assert StandingApproval.objects.get().ended_at is None
