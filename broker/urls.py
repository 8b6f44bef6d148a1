from collections import defaultdict

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from broker import views
from connections.providers import all_operations

app_name = "broker"


def operation_urls(operations):
    """One route per operation path, its view serving each method declared on it."""
    by_route = defaultdict(list)
    for operation in operations:
        by_route[operation.route].append(operation)
    return [
        path(route, views.operation_endpoint(route, ops), name=ops[0].name)
        for route, ops in by_route.items()
    ]


urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("token", views.TokenView.as_view(), name="token"),
    path("actions/<int:action_id>", views.ActionView.as_view(), name="action"),
    path("jobs/check", views.JobCheckView.as_view(), name="jobs-check"),
    *operation_urls(all_operations().values()),
    path("schema/", SpectacularAPIView.as_view(urlconf="broker.urls_schema"), name="schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="broker:schema"), name="docs"),
    re_path(r"^", views.NotFoundView.as_view(), name="not-found"),
]
