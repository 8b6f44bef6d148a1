"""The URLconf the OpenAPI schema is generated from: only the broker API, under /api/v1/, with
the built-in operations (an operator's data-declared providers are theirs to document)."""

from django.urls import include, path

from broker import urls as broker_urls
from connections.providers import BUILTIN, all_operations

_ops = set(all_operations())
_other = [p for p in broker_urls.urlpatterns if getattr(p, "name", None) not in _ops]
# The catch-all not-found route stays last.
_builtin = (
    _other[:-1]
    + broker_urls.operation_urls(op for spec in BUILTIN for op in spec.operations)
    + _other[-1:]
)

urlpatterns = [path("api/v1/", include((_builtin, broker_urls.app_name)))]
