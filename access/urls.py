from django.urls import path

from access import views

app_name = "access"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path(
        "<slug:kind>/<int:pk>/revoke/",
        views.revoke,
        name="revoke",
    ),
    path("apps/<int:pk>/narrow/", views.narrow, name="narrow"),
    path(
        "apps/<int:pk>/services/<slug:service>/revoke/",
        views.revoke_cell,
        name="revoke-cell",
    ),
]
