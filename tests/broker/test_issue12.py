"""Issue 12 items 3, 4, 7 and 13 (pending actions) on the broker: each test performs the attack
and shows it fails with nothing done upstream and nothing successful recorded."""

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse
from oauth2_provider.models import AccessToken, RefreshToken

from audit.actions import Action, Outcome
from audit.models import AuditEvent
from broker.services import pending_action_perform
from consent import pending as pending_machine
from consent.models import PendingAction
from consent.services import grant_revoke, pending_action_approve
from tests.broker.conftest import make_world

pytestmark = pytest.mark.django_db


def err(response):
    return response.json()["error"]["code"]


def calls_after_revocation(grant):
    """API_CALL events recorded as successful after the grant's grant.revoked event."""
    revoked = AuditEvent.objects.filter(action=Action.GRANT_REVOKED, grant_id=grant.pk).first()
    assert revoked is not None
    return AuditEvent.objects.filter(
        action=Action.API_CALL, grant_id=grant.pk, pk__gt=revoked.pk, outcome=Outcome.SUCCESS
    )


@pytest.fixture
def revoke_after_first_request(world, monkeypatch):
    """The person revokes while the call is in flight: right after its first upstream request."""
    from connections import outbound

    real = outbound.session
    seen = {"n": 0}

    class Session:
        def __init__(self, inner):
            self.inner = inner

        def request(self, *args, **kwargs):
            answer = self.inner.request(*args, **kwargs)
            seen["n"] += 1
            if seen["n"] == 1:
                grant_revoke(grant=world.grant, actor=world.user, reason="in flight")
            return answer

    monkeypatch.setattr(outbound, "session", lambda: Session(real()))
    return seen


# ---- item 7 ------------------------------------------------------------------------------------
def test_revocation_stops_the_retry_after_a_server_error(world, revoke_after_first_request):
    world.fake.fail_next.append((503, {}, b"{}"))
    response = world.get("github/repos/octo/hello")
    assert response.status_code == 403 and err(response) == "grant_revoked"
    assert len(world.fake.requests_to("/repos/octo/hello")) == 1  # no retry went out
    assert not calls_after_revocation(world.grant).exists()


def test_revocation_stops_the_retry_after_a_401(world, revoke_after_first_request):
    world.fake.fail_next.append((401, {}, b'{"message": "Bad credentials"}'))
    response = world.get("github/repos/octo/hello")
    assert response.status_code == 403 and err(response) == "grant_revoked"
    assert len(world.fake.requests_to("/repos/octo/hello")) == 1
    assert not calls_after_revocation(world.grant).exists()


def test_revocation_stops_drives_second_request(world, revoke_after_first_request):
    response = world.get("google/drive/files/f1/content")
    assert response.status_code == 403 and err(response) == "grant_revoked"
    # The parent check went out; the download did not.
    assert not [s for s in world.fake.seen if s.query.get("alt") == ["media"]]
    assert not calls_after_revocation(world.grant).exists()


def test_an_approved_write_is_not_performed_after_revocation(world, monkeypatch):
    r = world.post("github/repos/octo/hello/issues", {"title": "Held", "body": "text"})
    action_id = r.json()["pending_action"]["id"]
    pending_action_approve(
        action_id=action_id, user=world.user
    )  # on_commit not run: not yet performed
    # The worker has claimed it when the person revokes (just before the provider call).
    from broker import pending as broker_pending

    real = broker_pending.connection_for

    def revoke_then_connection(**kwargs):
        grant_revoke(grant=world.grant, actor=world.user, reason="changed my mind")
        return real(**kwargs)

    monkeypatch.setattr(broker_pending, "connection_for", revoke_then_connection)
    assert pending_action_perform(action_id=action_id) == "failed"
    assert world.fake.issues == [] and not world.fake.requests_to("/issues")
    assert PendingAction.objects.get(pk=action_id).error_code == "grant_revoked"
    assert not AuditEvent.objects.filter(
        action=Action.PENDING_ACTION_EXECUTED, outcome=Outcome.SUCCESS
    ).exists()


# ---- item 13: revoking cancels held writes ------------------------------------------------------
def test_revoking_cancels_held_writes_and_reconsent_does_not_revive_them(world):
    r = world.post("github/repos/octo/hello/issues", {"title": "Old", "body": "text"})
    action_id = r.json()["pending_action"]["id"]
    grant_revoke(grant=world.grant, actor=world.user)
    action = PendingAction.objects.get(pk=action_id)
    assert action.status == PendingAction.Status.REJECTED and action.error_code == "grant_revoked"
    # The person approves the app again later: the old action stays dead.
    type(world.grant).objects.filter(pk=world.grant.pk).update(revoked_at=None)
    with pytest.raises(pending_machine.PendingActionError):
        pending_action_approve(action_id=action_id, user=world.user)
    assert pending_action_perform(action_id=action_id) == "rejected"
    assert world.fake.issues == []


# ---- item 3: deactivated people --------------------------------------------------------------
def test_deactivation_revokes_grants_and_tokens_and_is_recorded(world):
    token = world.token()
    world.user.is_active = False
    world.user.save()
    world.grant.refresh_from_db()
    assert world.grant.revoked_at is not None
    assert not AccessToken.objects.filter(user=world.user).exists()
    assert not RefreshToken.objects.filter(user=world.user, revoked__isnull=True).exists()
    assert AuditEvent.objects.filter(action=Action.GRANT_REVOKED, grant_id=world.grant.pk).exists()
    assert AuditEvent.objects.filter(action=Action.TOKEN_REVOKED, subject_user=world.user).exists()
    response = world.get("github/repos/octo/hello", token=token)
    assert response.status_code == 401
    assert not world.fake.seen


def test_an_inactive_persons_token_is_refused_even_if_it_survived(world):
    """Defence in depth: a person deactivated without the signal (a raw update)."""
    token = world.token()
    cc = world.cc_token()
    type(world.user).objects.filter(pk=world.user.pk).update(is_active=False)
    response = world.get("github/repos/octo/hello", token=token)
    assert response.status_code == 401 and err(response) == "invalid_token"
    response = world.get("me", token=cc, HTTP_PLATFORM_GRANT=str(world.grant.pk))
    assert response.status_code == 401
    job = world.post("jobs/check", {"job": "j", "grant": world.grant.pk, "scopes": []}, token=cc)
    assert job.status_code != 200 or job.json()["allowed"] is False
    assert not world.fake.seen
    assert not AuditEvent.objects.filter(action=Action.API_CALL, outcome=Outcome.SUCCESS).exists()


# ---- item 4: /me --------------------------------------------------------------------------------
def test_me_never_presents_an_unverified_address(fake, client):
    world = make_world(fake, client)
    EmailAddress.objects.filter(user=world.user).update(verified=False)
    body = world.get("me").json()
    assert body["email"] is None and body["email_verified"] is False
    EmailAddress.objects.filter(user=world.user).update(verified=True)
    body = world.get("me").json()
    assert body["email"] == world.user.email and body["email_verified"] is True
    assert reverse("broker:me")
