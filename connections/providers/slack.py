"""Slack (user tokens: scopes go in ``user_scope``; answers are 200 with ``{"ok": false}``)."""

from connections.providers.base import Listing, Paging, Profile, ProviderSpec
from connections.providers.operations import BodyField, ListFilter, Operation
from connections.providers.revocation import SLACK_AUTH_REVOKE

CURSOR = Paging(
    "cursor", param="cursor", size_param="limit", size=200,
    next_path=("response_metadata", "next_cursor"),
)  # fmt: skip
READ = "services.slack.channels.read"
WRITE = "services.slack.messages.write"

# Every answer is 200 with {"ok": ...}: ``ok_key`` makes the broker read its errors.
OPERATIONS = (
    Operation(
        name="slack.channels.list",
        service="slack",
        summary="List the channels the person selected",
        method="GET",
        route="slack/channels",
        upstream_path="/conversations.list",
        scope=READ,
        resource_kind="channel",
        list_filter=ListFilter(items_key=("channels",), id_of=lambda c: [c.get("id", "")]),
        pagination=CURSOR,
        ok_key="ok",
    ),
    Operation(
        name="slack.messages.list",
        service="slack",
        summary="Read messages in a selected channel",
        method="GET",
        route="slack/channels/<str:channel>/messages",
        upstream_path="/conversations.history",
        upstream_query={"channel": "{channel}"},
        scope=READ,
        resource_kind="channel",
        resource_params=("channel",),
        pagination=CURSOR,
        items_key=("messages",),
        ok_key="ok",
    ),
    Operation(
        name="slack.messages.post",
        service="slack",
        summary="Post a message in a selected channel",
        method="POST",
        route="slack/channels/<str:channel>/messages",
        upstream_path="/chat.postMessage",
        scope=WRITE,
        resource_kind="channel",
        resource_params=("channel",),
        body_fields=(BodyField("text", max_length=40_000),),
        body_from_route={"channel": "{channel}"},
        ok_key="ok",
        is_write=True,
    ),
)

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
    revocation=SLACK_AUTH_REVOKE,
    scope_delimiter=",",
    scope_param="user_scope",
    login_hint=False,
    scopes={
        READ: ("channels:read", "channels:history"),
        WRITE: ("chat:write",),
    },
    scope_words={
        "channels:read": "View basic information about public channels",
        "channels:history": "View messages in public channels",
        "groups:read": "View basic information about private channels",
        "chat:write": "Send messages as you",
        "users:read": "View people in your workspace",
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
    operations=OPERATIONS,
)
