"""The broker listens to consent: an approved pending action is performed by a Celery task."""

from django.db import transaction

from broker.tasks import perform_pending_action


def on_pending_action_approved(sender, pending_action, **kwargs):
    action_id = pending_action.pk
    transaction.on_commit(lambda: perform_pending_action.delay(action_id))
