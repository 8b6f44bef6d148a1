from django.urls import path

from consent import approvals

app_name = "consent"

urlpatterns = [
    path("approvals/", approvals.approvals, name="approvals"),
    path("approvals/<int:pk>/decide/", approvals.approval_decide, name="approval-decide"),
    path(
        "approvals/standing/<int:pk>/end/",
        approvals.standing_approval_end,
        name="standing-approval-end",
    ),
]
