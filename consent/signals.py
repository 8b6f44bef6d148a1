from django.conf import settings
from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal, receiver

from connections.signals import connection_revoked

# Sent on commit after a person approves a pending action. Arguments: pending_action.
# The broker listens and performs the action exactly once (nothing imports the broker).
pending_action_approved = Signal()


@receiver(connection_revoked, dispatch_uid="consent.drop_revoked_connection")
def drop_revoked_connection(sender, connection, **kwargs):
    """A disconnected service is dropped from every grant that used it (the change is recorded)."""
    from consent.services import grants_drop_connection

    grants_drop_connection(connection=connection)


# --- a deactivated person's apps stop at once (issue 12 item 3) -------------------------------
# Deactivation happens wherever is_active is saved False (the admin, a shell, a script), so it is
# caught on the model's save rather than in one service that other paths could bypass.


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="consent.note_deactivation")
def note_deactivation(sender, instance, **kwargs):
    if instance.pk is None or instance.is_active:
        instance._consent_deactivated = False
        return
    was_active = sender.objects.filter(pk=instance.pk, is_active=True).exists()
    instance._consent_deactivated = was_active


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="consent.end_access")
def end_access_of_deactivated_person(sender, instance, created, **kwargs):
    if getattr(instance, "_consent_deactivated", False):
        instance._consent_deactivated = False
        from consent.services import person_end_access

        person_end_access(user=instance, reason="The person's account was deactivated.")
