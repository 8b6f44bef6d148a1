"""Slack (user tokens: scopes go in ``user_scope``; answers are 200 with ``{"ok": false}``)."""

from connections.providers.base import Listing, Paging, Profile, ProviderSpec

CURSOR = Paging(
    "cursor", param="cursor", size_param="limit", size=200,
    next_path=("response_metadata", "next_cursor"),
)  # fmt: skip

SLACK = ProviderSpec(
    id="slack",
    name="Slack",
    service="slack",
    is_sandbox=False,
    default_scopes=("users:read",),
    authorize_url="https://slack.com/oauth/v2/authorize",
    token_url="https://slack.com/api/oauth.v2.access",
    revoke_url="https://slack.com/api/auth.revoke",
    api_base_url="https://slack.com/api",
    dialect="slack",
    scope_delimiter=",",
    scope_param="user_scope",
    scopes={
        "services.slack.channels.read": ("channels:read", "channels:history"),
        "services.slack.messages.write": ("chat:write",),
    },
    listings=(
        Listing(
            "channel",
            "/conversations.list",
            items_path=("channels",),
            label_field="name",
            label_prefix="#",
            query={"types": "public_channel"},
            private_field="is_private",
            paging=CURSOR,
        ),
    ),
    profile=Profile(
        "/auth.test",
        id_field="user_id",
        login_fields=("user", "user_id"),
        name_fields=("user",),
        email_field="",
        required=("user_id",),
        extra_fields=("team",),
    ),
)
