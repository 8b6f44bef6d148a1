from functools import wraps

from django.conf import settings
from django.http import Http404
from django.urls import path as _path
from django.urls import re_path as _re_path

from connections.sandbox import api, authorize, oauth, views


def _sandbox_only(view):
    # The sandbox is never a stand-in in production: with SANDBOX_ENABLED off it does not exist.
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.SANDBOX_ENABLED:
            raise Http404("The sandbox provider is disabled.")
        return view(request, *args, **kwargs)

    return wrapper


def path(route, view, **kwargs):
    return _path(route, _sandbox_only(view), **kwargs)


def re_path(route, view, **kwargs):
    return _re_path(route, _sandbox_only(view), **kwargs)


app_name = "sandbox"

urlpatterns = [
    path("", views.home, name="home"),
    path("oauth/<str:flavour>/authorize", authorize.authorize, name="authorize"),
    path("oauth/token", oauth.token, name="token"),
    path("oauth/revoke", oauth.revoke, name="revoke"),
    # GitHub (api.github.com)
    path("github/applications/<str:client_id>/grant", api.gh_delete_grant),
    path("github/user", api.gh_user),
    path("github/user/repos", api.gh_user_repos),
    path("github/user/orgs", api.gh_user_orgs),
    path("github/repos/<str:owner>/<str:repo>", api.gh_repo),
    path("github/repos/<str:owner>/<str:repo>/contents", api.gh_contents),
    re_path(
        r"^github/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/contents/(?P<path>.*)$", api.gh_contents
    ),
    path("github/repos/<str:owner>/<str:repo>/issues", api.gh_issues),
    path("github/repos/<str:owner>/<str:repo>/issues/<int:number>/comments", api.gh_issue_comments),
    # Slack (slack.com/api)
    path("slack/api/auth.test", api.slack_auth_test),
    path("slack/api/auth.revoke", api.slack_auth_revoke),
    path("slack/api/conversations.list", api.slack_conversations_list),
    path("slack/api/conversations.history", api.slack_conversations_history),
    path("slack/api/chat.postMessage", api.slack_chat_post_message),
    # Google Drive v3 (www.googleapis.com)
    path("google/drive/v3/files", api.drive_files),
    path("google/drive/v3/files/<str:file_id>", api.drive_file),
    path("google/upload/drive/v3/files", api.drive_upload),
    path("google/oauth2/v3/userinfo", api.google_userinfo),
]
