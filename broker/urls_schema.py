"""The URLconf the OpenAPI schema is generated from: only the broker API, under /api/v1/."""

from django.urls import include, path

urlpatterns = [path("api/v1/", include("broker.urls"))]
