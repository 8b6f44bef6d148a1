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
        self._watch_cached_facts()

    def _watch_cached_facts(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save
        from oauth2_provider.models import get_access_token_model

        from apps_registry.models import App
        from broker.receivers import VERSION_KEYS, bump_version
        from consent.models import Grant

        VERSION_KEYS.update(
            {
                get_access_token_model(): "token",
                Grant: "grant",
                App: "app",
                get_user_model(): "user",
            }
        )
        for model in VERSION_KEYS:
            for signal in (post_save, post_delete):
                signal.connect(
                    bump_version, sender=model, dispatch_uid=f"broker.v.{model.__name__}"
                )
