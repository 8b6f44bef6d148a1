from django.urls import path

from consent import views

app_name = "consent"

urlpatterns = [
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="approval-decide"),
    path(
        "approvals/standing/<int:pk>/end/",
        views.standing_approval_end,
        name="standing-approval-end",
    ),
]
