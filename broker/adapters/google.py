from broker.adapters.base import (
    Adapter,
    BodyField,
    ListFilter,
    Operation,
    Pagination,
    ParentCheck,
    multipart_related,
)

READ = "services.google.drive.files.read"
WRITE = "services.google.drive.files.write"
FILE_FIELDS = "id,name,mimeType,parents,size,modifiedTime"
PAGES = Pagination(
    page_param="pageToken", size_param="pageSize", max_size=100, next_from=("nextPageToken",)
)
PARENTS = ParentCheck(path="/drive/v3/files/{file_id}", query={"fields": "id,parents"})


def _encode_file(body: dict) -> tuple[bytes, str]:
    metadata = {"name": body["name"], "parents": [body["parents"]]}
    mime = body.get("mime_type") or "text/plain"
    metadata["mimeType"] = mime
    return multipart_related(metadata, body.get("content", ""), mime)


class GoogleDriveAdapter(Adapter):
    service = "google"
    operations = (
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
            list_filter=ListFilter(
                items_key=("files",), id_of=lambda f: list(f.get("parents") or [])
            ),
            pagination=PAGES,
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
