"""The sandbox's API: the same requests and response shapes as the real GitHub, Slack and Drive.

Only what the broker uses (docs/architecture.md). Each endpoint enforces the token's provider
scopes the way the real provider does: GitHub sends ``X-OAuth-Scopes`` and answers 404 for what the
token cannot see, Slack answers ``{"ok": false, "error": "missing_scope"}``, Drive answers 403
``insufficientPermissions``.
"""

from __future__ import annotations

import base64
import json
import math
from email import message_from_bytes
from email.policy import default as email_policy
from functools import wraps
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from connections.sandbox.models import (
    SandboxChannel,
    SandboxDriveFile,
    SandboxIssue,
    SandboxIssueComment,
    SandboxMessage,
    SandboxOrg,
    SandboxRepo,
)
from connections.sandbox.oauth import authenticate_bearer

GITHUB_DOCS = "https://docs.github.com/rest"
DRIVE_READ = "https://www.googleapis.com/auth/drive.readonly"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"


# --- GitHub -------------------------------------------------------------------------------------


def _gh(data, status=200, token=None, headers=None) -> JsonResponse:
    response = JsonResponse(data, status=status, safe=False)
    if token is not None:
        response["X-OAuth-Scopes"] = ", ".join(token.scopes)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _gh_not_found(token) -> JsonResponse:
    return _gh(
        {"message": "Not Found", "documentation_url": GITHUB_DOCS, "status": "404"}, 404, token
    )


def github_endpoint(view):
    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        token = authenticate_bearer(request, "sandbox_github")
        if token is None:
            return _gh(
                {"message": "Bad credentials", "documentation_url": GITHUB_DOCS, "status": "401"},
                401,
            )
        return view(request, token, *args, **kwargs)

    return wrapper


def _gh_user(account) -> dict:
    return {
        "login": account.login,
        "id": int(account.uid),
        "node_id": f"U_{account.uid}",
        "avatar_url": "",
        "type": "User",
        "site_admin": False,
    }


def _gh_repo(repo: SandboxRepo) -> dict:
    return {
        "id": repo.gh_id,
        "node_id": f"R_{repo.gh_id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "owner": {
            "login": repo.owner,
            "type": "Organization" if repo.owner.endswith("-demo") else "User",
        },
        "html_url": f"https://github.com/{repo.full_name}",
        "description": repo.description,
        "default_branch": repo.default_branch,
    }


def _visible_repo(token, owner: str, name: str) -> SandboxRepo | None:
    repo = SandboxRepo.objects.filter(owner__iexact=owner, name__iexact=name).first()
    if repo is None:
        return None
    if repo.private and not (
        "repo" in token.scopes and repo.members.filter(pk=token.account_id).exists()
    ):
        return None
    return repo


def _can_write(token, repo: SandboxRepo) -> bool:
    if not repo.members.filter(pk=token.account_id).exists():
        return False
    return "repo" in token.scopes or ("public_repo" in token.scopes and not repo.private)


def _paginate(request: HttpRequest, items: list, default_per_page=30) -> tuple[list, dict]:
    try:
        per_page = max(1, min(100, int(request.GET.get("per_page", default_per_page))))
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        per_page, page = default_per_page, 1
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    links = []
    base = request.build_absolute_uri(request.path)

    def url(p):
        query = {**request.GET.dict(), "per_page": per_page, "page": p}
        return f"{base}?{urlencode(query)}"

    if page < last:
        links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        links += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
    return chunk, ({"Link": ", ".join(links)} if links else {})


@github_endpoint
def gh_user(request, token):
    data = _gh_user(token.account)
    data.update(
        {
            "name": token.account.name,
            "email": token.account.email
            if "user:email" in token.scopes or "read:user" in token.scopes
            else None,
        }
    )
    return _gh(data, token=token)


@github_endpoint
def gh_user_repos(request, token):
    repos = SandboxRepo.objects.filter(members=token.account).order_by("owner", "name")
    if "repo" not in token.scopes:
        repos = repos.filter(private=False)
    chunk, headers = _paginate(request, list(repos))
    return _gh([_gh_repo(r) for r in chunk], token=token, headers=headers)


@github_endpoint
def gh_user_orgs(request, token):
    if "read:org" not in token.scopes and "repo" not in token.scopes:
        return _gh([], token=token)
    orgs = SandboxOrg.objects.filter(members=token.account).order_by("login")
    chunk, headers = _paginate(request, list(orgs))
    return _gh(
        [{"login": o.login, "id": o.gh_id, "description": o.description} for o in chunk],
        token=token,
        headers=headers,
    )


@github_endpoint
def gh_repo(request, token, owner, repo):
    found = _visible_repo(token, owner, repo)
    return _gh(_gh_repo(found), token=token) if found else _gh_not_found(token)


@github_endpoint
def gh_contents(request, token, owner, repo, path=""):
    found = _visible_repo(token, owner, repo)
    if found is None:
        return _gh_not_found(token)
    path = path.strip("/")
    file = found.files.filter(path=path).first()
    if file is not None:
        encoded = base64.b64encode(file.content.encode()).decode()
        wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
        return _gh(
            {
                "type": "file",
                "encoding": "base64",
                "size": len(file.content.encode()),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "content": wrapped,
                "sha": f"{file.pk:040x}",
            },
            token=token,
        )
    prefix = f"{path}/" if path else ""
    entries: dict[str, str] = {}
    for child in found.files.filter(path__startswith=prefix).values_list("path", flat=True):
        rest = child[len(prefix) :]
        head, sep, _ = rest.partition("/")
        entries[head] = "dir" if sep else "file"
    if not entries:
        return _gh_not_found(token)
    return _gh(
        [
            {"type": kind, "name": name, "path": prefix + name}
            for name, kind in sorted(entries.items())
        ],
        token=token,
    )


@github_endpoint
def gh_issues(request, token, owner, repo):
    found = _visible_repo(token, owner, repo)
    if found is None:
        return _gh_not_found(token)
    if request.method == "POST":
        if not _can_write(token, found):
            return _gh_not_found(token)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _gh(
                {
                    "message": "Problems parsing JSON",
                    "documentation_url": GITHUB_DOCS,
                    "status": "400",
                },
                400,
                token,
            )
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("title"), str)
            or not body["title"].strip()
        ):
            return _gh(
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
                    "documentation_url": GITHUB_DOCS,
                    "status": "422",
                },
                422,
                token,
            )
        with transaction.atomic():
            number = (
                SandboxIssue.objects.select_for_update()
                .filter(repo=found)
                .aggregate(n=Max("number"))["n"]
                or 0
            ) + 1
            gh_id = (SandboxIssue.objects.aggregate(n=Max("gh_id"))["n"] or 5000) + 1
            issue = SandboxIssue.objects.create(
                gh_id=gh_id,
                repo=found,
                number=number,
                title=body["title"][:300],
                body=str(body.get("body") or ""),
                author=token.account,
            )
        return _gh(_gh_issue(issue), 201, token)
    state = request.GET.get("state", "open")
    issues = found.issues.select_related("author").order_by("-number")
    if state in {"open", "closed"}:
        issues = issues.filter(state=state)
    chunk, headers = _paginate(request, list(issues))
    return _gh([_gh_issue(i) for i in chunk], token=token, headers=headers)


def _gh_issue(issue: SandboxIssue) -> dict:
    return {
        "id": issue.gh_id,
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "state": issue.state,
        "user": _gh_user(issue.author),
        "comments": issue.comments.count(),
        "created_at": issue.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "html_url": f"https://github.com/{issue.repo.full_name}/issues/{issue.number}",
    }


@github_endpoint
def gh_issue_comments(request, token, owner, repo, number):
    found = _visible_repo(token, owner, repo)
    issue = found.issues.filter(number=number).first() if found else None
    if issue is None or request.method != "POST":
        return _gh_not_found(token)
    if not _can_write(token, found):
        return _gh_not_found(token)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("body"), str)
        or not body["body"].strip()
    ):
        return _gh(
            {
                "message": "Validation Failed",
                "errors": [{"resource": "IssueComment", "field": "body", "code": "missing_field"}],
                "status": "422",
            },
            422,
            token,
        )
    comment = SandboxIssueComment.objects.create(
        issue=issue, body=body["body"], author=token.account
    )
    return _gh(
        {
            "id": comment.pk,
            "body": comment.body,
            "user": _gh_user(comment.author),
            "created_at": comment.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        201,
        token,
    )


# --- Slack --------------------------------------------------------------------------------------


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
    from connections.sandbox.oauth import revoke_family

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


# --- Google Drive v3 ----------------------------------------------------------------------------


def _drive_error(status: int, message: str, reason: str, grpc: str) -> JsonResponse:
    return JsonResponse(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": grpc,
            }
        },
        status=status,
    )


def drive_endpoint(*any_of: str):
    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            token = authenticate_bearer(request, "sandbox_google")
            if token is None:
                return _drive_error(
                    401,
                    "Request had invalid authentication credentials.",
                    "authError",
                    "UNAUTHENTICATED",
                )
            if not any(s in token.scopes for s in any_of):
                return _drive_error(
                    403,
                    "Request had insufficient authentication scopes.",
                    "insufficientPermissions",
                    "PERMISSION_DENIED",
                )
            return view(request, token, *args, **kwargs)

        return wrapper

    return decorate


def _drive_file(f: SandboxDriveFile) -> dict:
    data = {"kind": "drive#file", "id": f.file_id, "name": f.name, "mimeType": f.mime_type}
    data["parents"] = [f.parent.file_id] if f.parent_id else []
    data["modifiedTime"] = f.modified_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if not f.is_folder:
        data["size"] = str(len(bytes(f.content)))
    return data


def _drive_visible(token, file_id: str) -> SandboxDriveFile | None:
    return (
        SandboxDriveFile.objects.select_related("parent")
        .filter(file_id=file_id, owner=token.account)
        .first()
    )


def _parse_query(q: str) -> dict | None:
    """Drive's query language, the part the platform uses: ``'<id>' in parents``,
    ``mimeType = '<type>'`` and ``trashed = false``, joined with ``and``."""
    filters: dict = {}
    for part in (p.strip() for p in q.split(" and ")):
        if part.endswith(" in parents") and part.startswith("'") and part.count("'") == 2:
            filters["parent"] = part[1 : part.index("'", 1)]
        elif part.replace(" ", "").startswith("mimeType='") and part.endswith("'"):
            filters["mime_type"] = part[part.index("'") + 1 : -1]
        elif part.replace(" ", "") in {"trashed=false", "trashed!=true"}:
            continue
        else:
            return None
    return filters


@drive_endpoint(DRIVE_READ, DRIVE_FILE)
def drive_files(request, token):
    if request.method == "POST":
        return _drive_error(
            400,
            "Use the upload endpoint to create files with content.",
            "badRequest",
            "INVALID_ARGUMENT",
        )
    q = request.GET.get("q", "")
    files = SandboxDriveFile.objects.filter(owner=token.account).select_related("parent")
    if q:
        filters = _parse_query(q)
        if filters is None:
            return _drive_error(400, "Invalid Value", "invalid", "INVALID_ARGUMENT")
        parent = filters.get("parent")
        if parent is not None:
            files = (
                files.filter(parent__file_id=parent)
                if parent != "root"
                else files.filter(parent__isnull=True)
            )
        if "mime_type" in filters:
            files = files.filter(mime_type=filters["mime_type"])
    ordered = list(files.order_by("name", "file_id"))
    try:
        page_size = max(1, min(1000, int(request.GET.get("pageSize", 100))))
        offset = (
            int(base64.urlsafe_b64decode(request.GET["pageToken"].encode()).decode())
            if request.GET.get("pageToken")
            else 0
        )
    except (ValueError, KeyError):
        return _drive_error(400, "Invalid Value", "invalid", "INVALID_ARGUMENT")
    chunk = ordered[offset : offset + page_size]
    data = {
        "kind": "drive#fileList",
        "incompleteSearch": False,
        "files": [_drive_file(f) for f in chunk],
    }
    if offset + page_size < len(ordered):
        data["nextPageToken"] = base64.urlsafe_b64encode(str(offset + page_size).encode()).decode()
    return JsonResponse(data)


@drive_endpoint(DRIVE_READ, DRIVE_FILE)
def drive_file(request, token, file_id):
    found = _drive_visible(token, file_id)
    if found is None:
        return _drive_error(404, f"File not found: {file_id}.", "notFound", "NOT_FOUND")
    if request.GET.get("alt") == "media":
        if found.is_folder:
            return _drive_error(
                403,
                "Only files with binary content can be downloaded.",
                "fileNotDownloadable",
                "PERMISSION_DENIED",
            )
        return HttpResponse(bytes(found.content), content_type=found.mime_type)
    return JsonResponse(_drive_file(found))


@drive_endpoint(DRIVE_FILE)
def drive_upload(request, token):
    if request.method != "POST" or request.GET.get("uploadType") != "multipart":
        return _drive_error(
            400, "Only uploadType=multipart is supported.", "badRequest", "INVALID_ARGUMENT"
        )
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.startswith("multipart/related"):
        return _drive_error(
            400, "Expected a multipart/related body.", "badContent", "INVALID_ARGUMENT"
        )
    message = message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body, policy=email_policy
    )
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if len(parts) != 2:
        return _drive_error(
            400, "Expected metadata and media parts.", "badContent", "INVALID_ARGUMENT"
        )
    try:
        metadata = json.loads(parts[0].get_payload(decode=True) or b"{}")
    except ValueError:
        return _drive_error(400, "Invalid metadata JSON.", "parseError", "INVALID_ARGUMENT")
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("name"), str)
        or not metadata["name"]
    ):
        return _drive_error(400, "The file needs a name.", "required", "INVALID_ARGUMENT")
    parents = metadata.get("parents") or []
    parent = None
    if parents:
        if not isinstance(parents, list) or len(parents) != 1:
            return _drive_error(
                400, "Exactly one parent is supported.", "invalid", "INVALID_ARGUMENT"
            )
        parent = _drive_visible(token, str(parents[0]))
        if parent is None or not parent.is_folder:
            return _drive_error(404, f"File not found: {parents[0]}.", "notFound", "NOT_FOUND")
    created = SandboxDriveFile.objects.create(
        file_id=f"sbx{SandboxDriveFile.objects.count() + 1:04d}{timezone.now().strftime('%H%M%S%f')}",
        owner=token.account,
        name=metadata["name"][:200],
        mime_type=str(metadata.get("mimeType") or parts[1].get_content_type()),
        parent=parent,
        content=parts[1].get_payload(decode=True) or b"",
    )
    return JsonResponse(_drive_file(created))


@drive_endpoint("openid", "email", "profile", DRIVE_READ, DRIVE_FILE)
def google_userinfo(request, token):
    account = token.account
    data = {"sub": account.uid, "name": account.name}
    if "email" in token.scopes:
        data.update({"email": account.email, "email_verified": True})
    return JsonResponse(data)


@csrf_exempt
def gh_delete_grant(request, client_id):
    """GitHub's ``DELETE /applications/{client_id}/grant``: basic auth with the client's
    credentials, ``{"access_token": ...}`` in the body; revokes every token of the grant."""
    import hmac

    from connections.providers import sandbox_client_credentials
    from connections.sandbox.models import SandboxToken, digest
    from connections.sandbox.oauth import revoke_family

    if request.method != "DELETE":
        return _gh({"message": "Not Found", "documentation_url": GITHUB_DOCS, "status": "404"}, 404)
    header = request.META.get("HTTP_AUTHORIZATION", "")
    try:
        given_id, _, secret = (
            base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        )
    except ValueError:
        given_id, secret = "", ""
    expected_id, expected_secret = sandbox_client_credentials("sandbox_github")
    if (
        given_id != client_id
        or client_id != expected_id
        or not hmac.compare_digest(secret, expected_secret)
    ):
        return _gh(
            {
                "message": "Requires authentication",
                "documentation_url": GITHUB_DOCS,
                "status": "401",
            },
            401,
        )
    try:
        token = json.loads(request.body or b"{}").get("access_token")
    except (ValueError, AttributeError):
        token = None
    row = SandboxToken.objects.filter(token_digest=digest(token or ""), client_id=client_id).first()
    if row is None:
        return _gh({"message": "Not Found", "documentation_url": GITHUB_DOCS, "status": "404"}, 404)
    revoke_family(row.family)
    return HttpResponse(status=204)
