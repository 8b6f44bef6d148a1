from broker.adapters.base import Adapter, BodyField, ListFilter, Operation, Pagination

READ = "services.github.repositories.read"
WRITE = "services.github.repositories.write"
ORGS = "services.github.organisations.read"
REPO = ("owner", "repo")
PAGES = Pagination(page_param="page", size_param="per_page", max_size=100, next_from="link")


class GitHubAdapter(Adapter):
    service = "github"
    operations = (
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
