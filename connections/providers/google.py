"""Google (Drive): RFC 6749 token endpoint, RFC 7009 revocation, offline access required."""

from connections.providers.base import Listing, Paging, Profile, ProviderSpec

FOLDER = "application/vnd.google-apps.folder"

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
        "services.google.drive.files.read": ("https://www.googleapis.com/auth/drive.readonly",),
        "services.google.drive.files.write": ("https://www.googleapis.com/auth/drive.file",),
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
            paging=Paging(
                "cursor",
                param="pageToken",
                size_param="pageSize",
                size=1000,
                next_path=("nextPageToken",),
            ),
            missing_scope_status=403,
        ),
    ),
    profile=Profile(
        "/oauth2/v3/userinfo", id_field="sub", login_fields=("email", "sub"), required=("sub",)
    ),
)
