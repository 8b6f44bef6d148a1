from django.dispatch import Signal

# Sent on commit after a person approves a pending action. Arguments: pending_action.
# The broker listens and performs the action exactly once (nothing imports the broker).
pending_action_approved = Signal()
