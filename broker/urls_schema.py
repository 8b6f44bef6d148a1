"""The URLconf the OpenAPI schema is generated from: only the broker API, under /api/v1/, with
the built-in operations (an operator's data-declared providers are theirs to document)."""

from django.urls import include, path

from broker import urls as broker_urls
from broker.adapters import BUILTIN

_ops = {op.name for adapter in broker_urls.ADAPTERS for op in adapter.operations}
_other = [p for p in broker_urls.urlpatterns if getattr(p, "name", None) not in _ops]
# The catch-all not-found route stays last.
_builtin = _other[:-1] + broker_urls._operation_urls(BUILTIN) + _other[-1:]

urlpatterns = [path("api/v1/", include((_builtin, broker_urls.app_name)))]
