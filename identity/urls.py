from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path("", views.home, name="home"),
    path("profile/", views.profile, name="profile"),
    path("profile/time-zone/", views.time_zone_detected, name="time-zone"),
    path("staff/two-factor/", views.staff_mfa_required, name="staff-mfa-required"),
    # Browsers ask for /favicon.ico on every page that names none (the admin, the API docs).
    path("favicon.ico", views.favicon, name="favicon"),
]
