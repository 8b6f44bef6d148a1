from django.dispatch import Signal

# Sent (inside the disconnect transaction) after a connection is revoked and its tokens destroyed.
# Arguments: connection. Grants that relied on it lose the use of it at once: the broker checks
# the connection's status on every call; consent listens to drop it from grants.
connection_revoked = Signal()
