from django.apps import AppConfig


class BrokerConfig(AppConfig):
    name = "broker"
    verbose_name = "Broker"

    def ready(self):
        from broker import checks  # noqa: F401 - registers the system check
        from broker.receivers import on_pending_action_approved
        from consent.signals import pending_action_approved

        pending_action_approved.connect(
            on_pending_action_approved, dispatch_uid="broker.perform_pending_action"
        )
