from broker.adapters.base import Adapter, BodyField, ListFilter, Operation, Pagination

READ = "services.slack.channels.read"
WRITE = "services.slack.messages.write"
CURSOR = Pagination(
    page_param="cursor",
    size_param="limit",
    max_size=200,
    next_from=("response_metadata", "next_cursor"),
)


class SlackAdapter(Adapter):
    service = "slack"
    operations = (
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
