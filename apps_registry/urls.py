from django.urls import path

from apps_registry import views

app_name = "apps_registry"

# Mounted under /developer/ by config/urls.py.
urlpatterns = [
    path("apps/", views.app_list, name="list"),
    path("apps/new/", views.app_create, name="create"),
    path("apps/<int:pk>/", views.app_detail, name="detail"),
    path("apps/<int:pk>/edit/", views.app_edit, name="edit"),
    path("apps/<int:pk>/redirect-uris/add/", views.redirect_uri_add, name="redirect-uri-add"),
    path(
        "apps/<int:pk>/redirect-uris/remove/", views.redirect_uri_remove, name="redirect-uri-remove"
    ),
    path("apps/<int:pk>/rotate-secret/", views.secret_rotate, name="rotate-secret"),
]
