"""The approvals page: held writes, shown readably, approved or rejected by POST."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from consent.models import PendingAction
from consent.signals import pending_action_approved
from tests.consent.helpers import GH_WRITE, make_app
from tests.factories import GrantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(client):
    user = UserFactory()
    client.force_login(user)
    return user


@pytest.fixture
def received():
    calls = []

    def receiver(sender, pending_action, **kwargs):
        calls.append(pending_action.pk)

    pending_action_approved.connect(receiver, dispatch_uid="test-approvals")
    yield calls
    pending_action_approved.disconnect(dispatch_uid="test-approvals")


def held(user, *, app_name="Issue Bot", expires_in=timedelta(hours=1), **kwargs):
    grant = GrantFactory(user=user, app=make_app([GH_WRITE], name=app_name), scopes=[GH_WRITE])
    defaults = {
        "operation": "github.issues.create",
        "service": "github",
        "scope": GH_WRITE,
        "resource": "octo/repo1",
        "summary": "Open an issue in octo/repo1",
        "params": {"owner": "octo", "repo": "repo1"},
        "body": {"title": "Crash on start", "body": "Steps:\n1. <script>alert(1)</script>"},
        "expires_at": timezone.now() + expires_in,
    }
    defaults.update(kwargs)
    return PendingAction.objects.create(grant=grant, **defaults)


def test_page_needs_sign_in():
    response = Client().get("/consent/approvals/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_lists_own_actions_readably_and_escaped(client, person):
    action = held(person)
    held(UserFactory(), app_name="Not Yours")
    response = client.get("/consent/approvals/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Issue Bot" in html and "Not Yours" not in html
    assert "Open an issue in octo/repo1" in html and "github.issues.create" in html
    assert "Crash on start" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert f'action="/consent/approvals/{action.pk}/decide/"' in html
    assert response["X-Frame-Options"] == "DENY"


def test_approve_by_post_sends_once_even_if_clicked_twice(
    client, person, received, django_capture_on_commit_callbacks
):
    action = held(person)
    url = f"/consent/approvals/{action.pk}/decide/"
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, {"decision": "approve"})
        second = client.post(url, {"decision": "approve"})
    assert first.status_code == 302 and second.status_code == 302
    assert received == [action.pk]
    action.refresh_from_db()
    assert action.status == PendingAction.Status.APPROVED
    assert AuditEvent.objects.filter(action=Action.PENDING_ACTION_APPROVED).count() == 1
    page = client.get("/consent/approvals/").content.decode()
    assert "already decided" in page


def test_get_does_not_decide(client, person, received):
    action = held(person)
    response = client.get(f"/consent/approvals/{action.pk}/decide/?decision=approve")
    assert response.status_code == 405
    action.refresh_from_db()
    assert action.status == PendingAction.Status.CREATED and received == []


def test_csrf_is_required(person, received):
    action = held(person)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person)
    response = browser.post(f"/consent/approvals/{action.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    action.refresh_from_db()
    assert action.status == PendingAction.Status.CREATED


def test_reject(client, person, received):
    action = held(person)
    client.post(f"/consent/approvals/{action.pk}/decide/", {"decision": "reject"})
    action.refresh_from_db()
    assert action.status == PendingAction.Status.REJECTED and received == []


def test_expired_cannot_be_approved(client, person, received):
    action = held(person, expires_in=timedelta(seconds=-1))
    html = client.get("/consent/approvals/").content.decode()
    assert "has expired and can no longer be approved" in html
    assert 'value="approve"' not in html
    client.post(f"/consent/approvals/{action.pk}/decide/", {"decision": "approve"})
    action.refresh_from_db()
    assert action.status == PendingAction.Status.CREATED and received == []


def test_someone_elses_action_cannot_be_decided(client, person, received):
    action = held(UserFactory())
    client.post(f"/consent/approvals/{action.pk}/decide/", {"decision": "approve"})
    action.refresh_from_db()
    assert action.status == PendingAction.Status.CREATED and received == []


def test_bad_decision_is_refused(client, person):
    action = held(person)
    response = client.post(f"/consent/approvals/{action.pk}/decide/", {"decision": "maybe"})
    assert response.status_code == 400
