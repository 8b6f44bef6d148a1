from django.urls import path

from connections import views

app_name = "connections"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("connect/<str:provider>/", views.connect, name="connect"),
    path("<int:pk>/upgrade/", views.upgrade, name="upgrade"),
]
