"""``check --deploy``: the sandbox providers in production (issue 12, item 10).

The sandbox's demo accounts and their data are public; in production it is off unless
SANDBOX_ENABLED says otherwise, and then the deploy check says so.
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def sandbox_in_production(app_configs=None, **kwargs):
    if settings.SANDBOX_ENABLED and not settings.DEBUG:
        return [
            Warning(
                "The sandbox providers are on in production: anyone may connect its public "
                "demo accounts and apps may act on them.",
                hint="Unset SANDBOX_ENABLED (off by default when DJANGO_DEBUG is off) unless "
                "this is a demo installation.",
                id="connections.W101",
            )
        ]
    return []
