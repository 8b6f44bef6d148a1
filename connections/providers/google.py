"""Google (Drive): RFC 6749 token endpoint, RFC 7009 revocation, offline access required."""

import dataclasses

from connections.providers.base import Listing, Paging, Profile, ProviderSpec
from connections.providers.operations import (
    BodyField,
    ListFilter,
    Operation,
    ParentCheck,
    multipart_related,
)

FOLDER = "application/vnd.google-apps.folder"
READ = "services.google.drive.files.read"
WRITE = "services.google.drive.files.write"
FILE_FIELDS = "id,name,mimeType,parents,size,modifiedTime"
# Drive serves up to 1,000 items a page: the consent screen's folder listing asks for that many;
# an app through the broker gets pages of up to 100.
FILE_PAGES = Paging(
    "cursor", param="pageToken", size_param="pageSize", size=1000, next_path=("nextPageToken",)
)
API_PAGES = dataclasses.replace(FILE_PAGES, size=100)
PARENTS = ParentCheck(path="/drive/v3/files/{file_id}", query={"fields": "id,parents"})


def _encode_file(body: dict) -> tuple[bytes, str]:
    metadata = {"name": body["name"], "parents": [body["parents"]]}
    mime = body.get("mime_type") or "text/plain"
    metadata["mimeType"] = mime
    return multipart_related(metadata, body.get("content", ""), mime)


OPERATIONS = (
    Operation(
        name="google.drive.files.list",
        service="google",
        summary="List files in a selected folder",
        method="GET",
        route="google/drive/folders/<str:folder>/files",
        upstream_path="/drive/v3/files",
        upstream_query={
            "q": "'{folder}' in parents and trashed = false",
            "fields": f"nextPageToken,files({FILE_FIELDS})",
        },
        scope=READ,
        resource_kind="folder",
        resource_params=("folder",),
        list_filter=ListFilter(items_key=("files",), id_of=lambda f: list(f.get("parents") or [])),
        pagination=API_PAGES,
    ),
    Operation(
        name="google.drive.files.get",
        service="google",
        summary="Get a file's metadata (the file must be in a selected folder)",
        method="GET",
        route="google/drive/files/<str:file_id>",
        upstream_path="/drive/v3/files/{file_id}",
        upstream_query={"fields": FILE_FIELDS},
        scope=READ,
        resource_kind="folder",
        parent_check=PARENTS,
    ),
    Operation(
        name="google.drive.files.download",
        service="google",
        summary="Download a file's content (the file must be in a selected folder)",
        method="GET",
        route="google/drive/files/<str:file_id>/content",
        upstream_path="/drive/v3/files/{file_id}",
        upstream_query={"alt": "media"},
        scope=READ,
        resource_kind="folder",
        parent_check=PARENTS,
        raw_response=True,
    ),
    Operation(
        name="google.drive.files.create",
        service="google",
        summary="Create a file in a selected folder",
        method="POST",
        route="google/drive/folders/<str:folder>/files",
        upstream_path="/upload/drive/v3/files",
        upstream_query={"uploadType": "multipart", "fields": FILE_FIELDS},
        scope=WRITE,
        resource_kind="folder",
        resource_params=("folder",),
        body_fields=(
            BodyField("name", max_length=512),
            BodyField("content", required=False, max_length=1_000_000),
            BodyField("mime_type", required=False, max_length=255),
        ),
        body_from_route={"parents": "{folder}"},
        encode_body=_encode_file,
        is_write=True,
    ),
)

GOOGLE = ProviderSpec(
    id="google",
    name="Google",
    service="google",
    is_sandbox=False,
    default_scopes=("openid", "email", "profile"),
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    revoke_url="https://oauth2.googleapis.com/revoke",
    api_base_url="https://www.googleapis.com",
    requires_refresh_token=True,
    extra_authorize_params=(
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
    ),
    scopes={
        READ: ("https://www.googleapis.com/auth/drive.readonly",),
        WRITE: ("https://www.googleapis.com/auth/drive.file",),
    },
    scope_words={
        "openid": "Confirm who you are",
        "email": "See your e-mail address",
        "profile": "See your basic profile",
        "https://www.googleapis.com/auth/drive.readonly": "See and download all your Google Drive files",
        "https://www.googleapis.com/auth/drive.file": (
            "See, edit, create and delete only the Drive files it creates or opens"
        ),
    },
    listings=(
        Listing(
            "folder",
            "/drive/v3/files",
            items_path=("files",),
            label_field="name",
            query={"q": f"mimeType = '{FOLDER}'"},
            filter_field="mimeType",
            filter_value=FOLDER,
            paging=FILE_PAGES,
            missing_scope_status=403,
        ),
    ),
    profile=Profile(
        "/oauth2/v3/userinfo", id_field="sub", login_fields=("email", "sub"), required=("sub",)
    ),
    operations=OPERATIONS,
)
