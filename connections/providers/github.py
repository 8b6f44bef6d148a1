"""GitHub (and GitHub Enterprise: move its URLs with GITHUB_*_URL)."""

from connections.providers.base import Listing, Paging, Profile, ProviderSpec
from connections.providers.operations import BodyField, ListFilter, Operation
from connections.providers.revocation import GITHUB_GRANT

PAGES = Paging("link", param="page", size_param="per_page", size=100)
READ = "services.github.repositories.read"
WRITE = "services.github.repositories.write"
ORGS = "services.github.organisations.read"
REPO = ("owner", "repo")

OPERATIONS = (
    Operation(
        name="github.repos.list",
        service="github",
        summary="List the repositories the person selected",
        method="GET",
        route="github/repos",
        upstream_path="/user/repos",
        scope=READ,
        resource_kind="repository",
        list_filter=ListFilter(items_key=(), id_of=lambda item: [item.get("full_name", "")]),
        pagination=PAGES,
    ),
    Operation(
        name="github.repos.get",
        service="github",
        summary="Get a selected repository",
        method="GET",
        route="github/repos/<str:owner>/<str:repo>",
        upstream_path="/repos/{owner}/{repo}",
        scope=READ,
        resource_kind="repository",
        resource_params=REPO,
    ),
    Operation(
        name="github.contents.get",
        service="github",
        summary="Get a file or directory in a selected repository",
        method="GET",
        route="github/repos/<str:owner>/<str:repo>/contents/<path:path>",
        upstream_path="/repos/{owner}/{repo}/contents/{path}",
        scope=READ,
        resource_kind="repository",
        resource_params=REPO,
        path_params=("path",),
    ),
    Operation(
        name="github.issues.list",
        service="github",
        summary="List issues in a selected repository",
        method="GET",
        route="github/repos/<str:owner>/<str:repo>/issues",
        upstream_path="/repos/{owner}/{repo}/issues",
        scope=READ,
        resource_kind="repository",
        resource_params=REPO,
        pagination=PAGES,
    ),
    Operation(
        name="github.issues.create",
        service="github",
        summary="Open an issue in a selected repository",
        method="POST",
        route="github/repos/<str:owner>/<str:repo>/issues",
        upstream_path="/repos/{owner}/{repo}/issues",
        scope=WRITE,
        resource_kind="repository",
        resource_params=REPO,
        body_fields=(
            BodyField("title", max_length=256),
            BodyField("body", required=False),
        ),
        is_write=True,
    ),
    Operation(
        name="github.issue_comments.create",
        service="github",
        summary="Comment on an issue in a selected repository",
        method="POST",
        route="github/repos/<str:owner>/<str:repo>/issues/<int:number>/comments",
        upstream_path="/repos/{owner}/{repo}/issues/{number}/comments",
        scope=WRITE,
        resource_kind="repository",
        resource_params=REPO,
        body_fields=(BodyField("body"),),
        is_write=True,
    ),
    Operation(
        name="github.orgs.list",
        service="github",
        summary="List the organisations the person selected",
        method="GET",
        route="github/orgs",
        upstream_path="/user/orgs",
        scope=ORGS,
        resource_kind="organisation",
        list_filter=ListFilter(items_key=(), id_of=lambda item: [item.get("login", "")]),
        pagination=PAGES,
    ),
)

GITHUB = ProviderSpec(
    id="github",
    name="GitHub",
    service="github",
    is_sandbox=False,
    default_scopes=("read:user",),
    authorize_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",
    revoke_url="https://api.github.com/applications/{client_id}/grant",
    api_base_url="https://api.github.com",
    # A bad refresh answers 200 with error=bad_refresh_token.
    dialect="github",
    revocation=GITHUB_GRANT,
    scopes={
        READ: ("repo",),
        WRITE: ("repo",),
        ORGS: ("read:org",),
    },
    scope_words={
        "repo": "Full control of private repositories (read and write code, issues and settings)",
        "public_repo": "Read and write public repositories",
        "read:user": "Read your GitHub profile",
        "user:email": "Read your e-mail addresses",
        "read:org": "Read your organisation memberships",
    },
    listings=(
        Listing(
            "repository", "/user/repos", id_field="full_name", private_field="private", paging=PAGES
        ),
        Listing("organisation", "/user/orgs", id_field="login", paging=PAGES),
    ),
    profile=Profile("/user", name_fields=("name", "login"), required=("id", "login")),
    operations=OPERATIONS,
)
