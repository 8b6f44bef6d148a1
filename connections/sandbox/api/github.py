"""The sandbox's GitHub API (api.github.com): the paths and shapes the broker uses."""

from __future__ import annotations

import base64
import hmac
import json
import math
from functools import wraps
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from connections.providers import sandbox_client_credentials
from connections.sandbox.models import (
    SandboxIssue,
    SandboxIssueComment,
    SandboxOrg,
    SandboxRepo,
    SandboxToken,
    digest,
)
from connections.sandbox.oauth import authenticate_bearer, revoke_family

GITHUB_DOCS = "https://docs.github.com/rest"
DRIVE_READ = "https://www.googleapis.com/auth/drive.readonly"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"


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


@csrf_exempt
def gh_delete_grant(request, client_id):
    """GitHub's ``DELETE /applications/{client_id}/grant``: basic auth with the client's
    credentials, ``{"access_token": ...}`` in the body; revokes every token of the grant."""
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
