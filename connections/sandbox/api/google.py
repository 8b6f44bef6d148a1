"""The sandbox's Google Drive v3 API and OpenID userinfo (www.googleapis.com)."""

from __future__ import annotations

import base64
import json
from email import message_from_bytes
from email.policy import default as email_policy
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from connections.sandbox.models import (
    SandboxDriveFile,
)
from connections.sandbox.oauth import authenticate_bearer

GITHUB_DOCS = "https://docs.github.com/rest"
DRIVE_READ = "https://www.googleapis.com/auth/drive.readonly"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"


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
