from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Connections"

    def ready(self):
        from connections import checks, receivers  # noqa: F401 - registry checks, allauth signals
        from connections.sandbox import checks as sandbox_checks  # noqa: F401 - deploy check
