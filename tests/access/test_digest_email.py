"""The digest e-mail: off by default, daily or weekly when turned on, only when something happened."""

import pytest
from django.core import mail
from django.utils import timezone

from access.tasks import digest_email_send, send_digest_emails
from audit.actions import Action, ActorType
from audit.services import record_event
from tests.access.test_dashboard import GH_READ, make_access
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_off_by_default_sends_nothing():
    user = UserFactory()
    make_access(user)
    assert user.digest_email == "off"
    assert send_digest_emails() == 0 and not mail.outbox


def test_daily_digest_sends_once_per_day_with_counts():
    user = UserFactory(digest_email="daily")
    make_access(user)  # one background GitHub read
    assert send_digest_emails() == 1
    (message,) = mail.outbox
    assert message.to == [user.email]
    assert "Acme Notes, GitHub: 1 call in the background" in message.body
    # Not again within the day, even with new activity.
    assert send_digest_emails() == 0 and len(mail.outbox) == 1
    user.refresh_from_db()
    later = user.digest_email_sent_at + timezone.timedelta(days=1, minutes=1)
    assert digest_email_send(user=user, now=later) is False  # nothing happened since: no e-mail


def test_weekly_digest_waits_a_week():
    user = UserFactory(digest_email="weekly")
    _gh, _sl, (grant,) = make_access(user)
    assert send_digest_emails() == 1
    user.refresh_from_db()
    record_event(
        Action.API_CALL,
        actor_type=ActorType.APP,
        grant=grant,
        service="github",
        scope=GH_READ,
        resource="octo/site",
        background=True,
    )
    assert (
        digest_email_send(user=user, now=user.digest_email_sent_at + timezone.timedelta(days=2))
        is False
    )
    assert (
        digest_email_send(user=user, now=timezone.now() + timezone.timedelta(days=7, minutes=1))
        is True
    )
    assert "octo/site" in mail.outbox[-1].body
