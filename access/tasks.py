"""The "while you were away" digest by e-mail, for people who turned it on (off by default).

Beat runs :func:`send_digest_emails` hourly; each person gets one e-mail per day or per week
(their choice on the profile), covering what apps did in the background since the last one, and
only when something happened.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from access.activity import digest
from identity.models import DigestEmail

log = logging.getLogger(__name__)
PERIODS = {DigestEmail.DAILY: dt.timedelta(days=1), DigestEmail.WEEKLY: dt.timedelta(days=7)}


def digest_email_send(*, user, now: dt.datetime) -> bool:
    """Send one person's digest if it is due; True if an e-mail went out."""
    period = PERIODS.get(user.digest_email)
    if period is None:
        return False
    since = user.digest_email_sent_at
    if since is not None and now - since < period:
        return False
    since = since or now - period
    summary = digest(user=user, since=since, until=now)
    with transaction.atomic():
        # Claim the period first (one worker per person), then send.
        claimed = (
            get_user_model()
            .objects.filter(pk=user.pk, digest_email=user.digest_email)
            .filter(Q(digest_email_sent_at=user.digest_email_sent_at))
            .update(digest_email_sent_at=now)
        )
    if not claimed or summary.empty:
        return False
    context = {"user": user, "digest": summary, "period": user.get_digest_email_display()}
    send_mail(
        subject="What apps did while you were away",
        message=render_to_string("access/digest_email.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
    return True


@shared_task(name="access.tasks.send_digest_emails")
def send_digest_emails() -> int:
    now = timezone.now()
    sent = 0
    people = get_user_model().objects.filter(is_active=True).exclude(digest_email=DigestEmail.OFF)
    for user in people.iterator():
        try:
            sent += digest_email_send(user=user, now=now)
        except Exception:  # one person's failure must not stop the others
            log.exception("digest e-mail for user %s failed", user.pk)
    return sent
