from django.apps import AppConfig


class AccessConfig(AppConfig):
    """The person-facing "Your access" pages and the operators' grant and event admin.

    The top layer: it reads every other app through their selectors and changes things only
    through their services (consent for grants, connections for connections). Nothing imports it.
    """

    name = "access"
    verbose_name = "Your access"
