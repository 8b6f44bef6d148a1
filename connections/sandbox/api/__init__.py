"""The sandbox's API: the same requests and response shapes as the real GitHub, Slack and Drive.

Only what the broker uses (docs/architecture.md), one module per provider. Each endpoint enforces
the token's provider scopes the way the real provider does: GitHub sends ``X-OAuth-Scopes`` and
answers 404 for what the token cannot see, Slack answers ``{"ok": false, "error":
"missing_scope"}``, Drive answers 403 ``insufficientPermissions``.
"""

from connections.sandbox.api.github import (
    gh_contents,
    gh_delete_grant,
    gh_issue_comments,
    gh_issues,
    gh_repo,
    gh_user,
    gh_user_orgs,
    gh_user_repos,
)
from connections.sandbox.api.google import drive_file, drive_files, drive_upload, google_userinfo
from connections.sandbox.api.slack import (
    slack_auth_revoke,
    slack_auth_test,
    slack_chat_post_message,
    slack_conversations_history,
    slack_conversations_list,
)

__all__ = [
    "drive_file", "drive_files", "drive_upload", "gh_contents", "gh_delete_grant",
    "gh_issue_comments", "gh_issues", "gh_repo", "gh_user", "gh_user_orgs", "gh_user_repos",
    "google_userinfo", "slack_auth_revoke", "slack_auth_test", "slack_chat_post_message",
    "slack_conversations_history", "slack_conversations_list",
]  # fmt: skip
