"""The sandbox's Slack Web API (slack.com/api): the methods the broker uses."""

from __future__ import annotations

import base64
import json
from functools import wraps

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from connections.sandbox.models import (
    SandboxChannel,
    SandboxMessage,
)
from connections.sandbox.oauth import authenticate_bearer, revoke_family

GITHUB_DOCS = "https://docs.github.com/rest"
DRIVE_READ = "https://www.googleapis.com/auth/drive.readonly"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"


def _slack_params(request: HttpRequest) -> dict:
    if request.method == "POST" and request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
            return data if isinstance(data, dict) else {}
        except ValueError:
            return {}
    return {**request.GET.dict(), **request.POST.dict()}


def slack_method(*needed: str):
    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest):
            params = _slack_params(request)
            token = authenticate_bearer(request, "sandbox_slack")
            if token is None and params.get("token"):
                request.META["HTTP_AUTHORIZATION"] = f"Bearer {params['token']}"
                token = authenticate_bearer(request, "sandbox_slack")
            if token is None:
                return JsonResponse({"ok": False, "error": "invalid_auth"})
            missing = [s for s in needed if s not in token.scopes]
            if missing:
                return JsonResponse(
                    {
                        "ok": False,
                        "error": "missing_scope",
                        "needed": missing[0],
                        "provided": ",".join(token.scopes),
                    }
                )
            return view(request, token, params)

        return wrapper

    return decorate


@slack_method()
def slack_auth_test(request, token, params):
    return JsonResponse(
        {
            "ok": True,
            "url": "https://sandbox.slack.example/",
            "team": "Sandbox Workspace",
            "user": token.account.login,
            "team_id": "T0SANDBOX",
            "user_id": token.account.uid,
        }
    )


@slack_method()
def slack_auth_revoke(request, token, params):
    if params.get("test") in {"1", "true"}:
        return JsonResponse({"ok": True, "revoked": False})
    revoke_family(token.family)
    return JsonResponse({"ok": True, "revoked": True})


def _channel(c: SandboxChannel, account) -> dict:
    return {
        "id": c.channel_id,
        "name": c.name,
        "is_channel": not c.is_private,
        "is_group": c.is_private,
        "is_private": c.is_private,
        "is_archived": False,
        "is_member": c.members.filter(pk=account.pk).exists(),
        "topic": {"value": c.topic},
        "num_members": c.members.count(),
    }


@slack_method("channels:read")
def slack_conversations_list(request, token, params):
    types = set((params.get("types") or "public_channel").split(","))
    channels = SandboxChannel.objects.none()
    if "public_channel" in types:
        channels = SandboxChannel.objects.filter(is_private=False)
    if "private_channel" in types:
        if "groups:read" not in token.scopes:
            return JsonResponse(
                {
                    "ok": False,
                    "error": "missing_scope",
                    "needed": "groups:read",
                    "provided": ",".join(token.scopes),
                }
            )
        channels = channels | SandboxChannel.objects.filter(is_private=True, members=token.account)
    ordered = list(channels.distinct().order_by("channel_id"))
    try:
        limit = max(1, min(1000, int(params.get("limit") or 100)))
    except ValueError:
        return JsonResponse({"ok": False, "error": "invalid_limit"})
    cursor = params.get("cursor") or ""
    start = 0
    if cursor:
        try:
            after = base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("id:")
        except ValueError:
            return JsonResponse({"ok": False, "error": "invalid_cursor"})
        start = next((i for i, c in enumerate(ordered) if c.channel_id > after), len(ordered))
    chunk = ordered[start : start + limit]
    more = start + limit < len(ordered)
    next_cursor = (
        base64.urlsafe_b64encode(f"id:{chunk[-1].channel_id}".encode()).decode()
        if more and chunk
        else ""
    )
    return JsonResponse(
        {
            "ok": True,
            "channels": [_channel(c, token.account) for c in chunk],
            "response_metadata": {"next_cursor": next_cursor},
        }
    )


def _readable_channel(token, channel_id: str) -> SandboxChannel | None:
    channel = SandboxChannel.objects.filter(channel_id=channel_id).first()
    if channel and channel.is_private and not channel.members.filter(pk=token.account_id).exists():
        return None
    return channel


@slack_method("channels:history")
def slack_conversations_history(request, token, params):
    channel = _readable_channel(token, params.get("channel") or "")
    if channel is None:
        return JsonResponse({"ok": False, "error": "channel_not_found"})
    try:
        limit = max(1, min(1000, int(params.get("limit") or 100)))
    except ValueError:
        return JsonResponse({"ok": False, "error": "invalid_limit"})
    messages = list(channel.messages.select_related("author").order_by("-ts")[: limit + 1])
    return JsonResponse(
        {
            "ok": True,
            "messages": [
                {"type": "message", "user": m.author.uid, "text": m.text, "ts": m.ts}
                for m in messages[:limit]
            ],
            "has_more": len(messages) > limit,
            "response_metadata": {"next_cursor": ""},
        }
    )


@slack_method("chat:write")
def slack_chat_post_message(request, token, params):
    if request.method != "POST":
        return JsonResponse({"ok": False, "error": "invalid_request_method"})
    channel = _readable_channel(token, params.get("channel") or "")
    if channel is None:
        return JsonResponse({"ok": False, "error": "channel_not_found"})
    if not channel.members.filter(pk=token.account_id).exists():
        return JsonResponse({"ok": False, "error": "not_in_channel"})
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        return JsonResponse({"ok": False, "error": "no_text"})
    ts = f"{timezone.now().timestamp():.6f}"
    message = SandboxMessage.objects.create(channel=channel, ts=ts, author=token.account, text=text)
    return JsonResponse(
        {
            "ok": True,
            "channel": channel.channel_id,
            "ts": ts,
            "message": {
                "type": "message",
                "user": token.account.uid,
                "text": message.text,
                "ts": ts,
            },
        }
    )
