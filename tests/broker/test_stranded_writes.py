"""Stranded approved writes (issue 11): a worker that dies after claiming a write leaves it
"performing"; the beat sweep finds it and the person sees "outcome unknown: check at the
provider" (the app sees ``outcome_unknown``); it is never performed again."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from consent import pending
from consent.models import PendingAction
from consent.tasks import strand_stuck_actions

pytestmark = pytest.mark.django_db


def held_and_claimed(world, title, claimed_ago):
    r = world.post("github/repos/octo/hello/issues", {"title": title})
    action = PendingAction.objects.get(pk=r.json()["pending_action"]["id"])
    PendingAction.objects.filter(pk=action.pk).update(
        status=PendingAction.Status.APPROVED, decided_at=timezone.now()
    )
    _, mine = pending.claim(action_id=action.pk)
    assert mine  # this "worker" claimed it, then died before calling finish()
    PendingAction.objects.filter(pk=action.pk).update(executed_at=timezone.now() - claimed_ago)
    return action


def test_the_sweep_marks_stranded_writes_outcome_unknown(world):
    stranded = held_and_claimed(world, "Stranded", settings.CONSENT_STRANDED_AFTER * 2)
    recent = held_and_claimed(world, "Still running", timedelta(seconds=5))

    assert strand_stuck_actions.apply().get() == 1
    assert PendingAction.objects.get(pk=stranded.pk).status == "outcome_unknown"
    assert PendingAction.objects.get(pk=recent.pk).status == "performing"
    assert strand_stuck_actions.apply().get() == 0  # once

    # The person is told to check at the provider.
    world.client.force_login(world.user)
    page = world.client.get("/consent/approvals/").content.decode()
    notice = page[page.index('id="outcome-unknown"') : page.index('id="decided"')]
    assert "Outcome unknown: check at the provider" in notice
    assert notice.count("<li>") == 1  # the stranded one only, not the one still running

    # The app reads outcome_unknown; nothing performs it again.
    r = world.get(f"actions/{stranded.pk}")
    assert r.json()["pending_action"]["status"] == "outcome_unknown"
    from broker.services import pending_action_perform

    pending_action_perform(action_id=stranded.pk)
    assert world.fake.issues == []
    assert PendingAction.objects.get(pk=stranded.pk).status == "outcome_unknown"


def test_beat_runs_the_sweep():
    schedule = settings.CELERY_BEAT_SCHEDULE["consent-strand-stuck-actions"]
    assert schedule["task"] == strand_stuck_actions.name
    assert schedule["schedule"] <= 300


@pytest.mark.django_db(transaction=True)
def test_an_approved_write_is_performed_out_of_any_transaction(world, monkeypatch):
    from django.db import connection as db

    from broker.services import pending_action_perform
    from connections import outbound

    seen = []
    real = outbound._request

    def checked(method, url, budget, **kw):
        seen.append(db.in_atomic_block)
        return real(method, url, budget, **kw)

    monkeypatch.setattr(outbound, "_request", checked)
    r = world.post("github/repos/octo/hello/issues", {"title": "Performed"})
    PendingAction.objects.filter(pk=r.json()["pending_action"]["id"]).update(
        status=PendingAction.Status.APPROVED, decided_at=timezone.now()
    )
    assert pending_action_perform(action_id=r.json()["pending_action"]["id"]) == "succeeded"
    assert seen == [False] and len(world.fake.issues) == 1
