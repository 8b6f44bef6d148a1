"""The broker listens to consent: an approved pending action is performed by a Celery task; and
to every change of what a call's cached facts depend on (broker.factcache): a token, grant, app
or person saved or deleted gets a new version, so every process's cache misses on its next call.
Receivers rather than calls in each service, so that no path (services, the admin, DOT's own
revocation and rotation, a shell) can change a grant without the broker noticing.
"""

from django.db import transaction

from broker import factcache
from broker.tasks import perform_pending_action


def on_pending_action_approved(sender, pending_action, **kwargs):
    action_id = pending_action.pk
    transaction.on_commit(lambda: perform_pending_action.delay(action_id))


def bump_version(sender, instance, created=False, **kwargs):
    if created or instance.pk is None:
        return  # nothing can have cached a row that did not exist
    factcache.bump(f"{VERSION_KEYS[sender]}:{instance.pk}")


VERSION_KEYS: dict = {}
