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
