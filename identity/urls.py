from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path("", views.home, name="home"),
    path("profile/", views.profile, name="profile"),
]
