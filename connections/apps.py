from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Connections"

    def ready(self):
        from connections import receivers  # noqa: F401 - connects allauth's signals
        from connections.sandbox import checks  # noqa: F401 - registers the deploy check
