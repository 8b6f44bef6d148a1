"""The person's resources at a provider (for the consent screen) and their canonical ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from django.conf import settings

from connections import outbound
from connections.exceptions import ConnectionNeedsReauthorization, ProviderUnavailable
from connections.providers import get_provider
from connections.services import get_valid_access_token

KINDS = ("repository", "organisation", "channel", "folder")
MAX_PAGES = 20
_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True, slots=True)
class Resource:
    id: str
    label: str
    # True/False where the provider says whether it is private (repositories, channels).
    private: bool | None = field(default=None, compare=False)


def canonical_id(kind: str, raw: str) -> str:
    """The canonical form of a resource id (docs/architecture.md).

    A repository is ``owner/repo`` lower-cased after percent-decoding; an organisation its login
    lower-cased; a channel is Slack's id upper-cased; a folder is Drive's id as is.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"An empty {kind} id.")
    value = raw.strip()
    if kind == "repository":
        value = unquote(value).strip("/").lower()
        parts = value.split("/")
        if (
            len(parts) != 2
            or not all(re.fullmatch(r"[a-z0-9._-]+", p) for p in parts)
            or ".." in parts
        ):
            raise ValueError(f"Not a repository (owner/name): {raw!r}.")
        return value
    if kind == "organisation":
        value = unquote(value).lower()
        if not re.fullmatch(r"[a-z0-9-]+", value):
            raise ValueError(f"Not an organisation login: {raw!r}.")
        return value
    if kind == "channel":
        value = value.upper()
        if not re.fullmatch(r"[CGD](?=[A-Z0-9]*[0-9])[A-Z0-9]{6,}", value):
            raise ValueError(f"Not a Slack channel id: {raw!r}.")
        return value
    if kind == "folder":
        if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise ValueError(f"Not a Drive folder id: {raw!r}.")
        return value
    raise ValueError(f"Unknown resource kind: {kind!r}.")


def _get(spec, url: str, token: str, params: dict | None = None) -> outbound.Response:
    """One listing request through the outbound client: only on the provider's own hosts, so a
    ``Link: rel="next"`` elsewhere is refused before the token is sent."""
    try:
        response = outbound.request(
            "GET",
            url,
            origins=spec.origins,
            bearer=token,
            params=params,
            timeout=settings.CONNECTION_REFRESH_TIMEOUT_SECONDS,
        )
    except outbound.OffOrigin:
        raise ProviderUnavailable(f"{spec.name} pointed the listing at another host.") from None
    except outbound.OutboundError:
        raise ProviderUnavailable() from None
    if response.status >= 500:
        raise ProviderUnavailable()
    return response


def _call(connection, fetch):
    """Run ``fetch(token)``; on a 401 force one refresh and try once more."""
    token = get_valid_access_token(connection)
    response = fetch(token)
    if response is None:
        token = get_valid_access_token(connection, rejected_token=token)
        response = fetch(token)
        if response is None:
            raise ConnectionNeedsReauthorization(connection=connection)
    return response


def list_resources(connection, kind: str) -> list[Resource]:
    """The person's repositories, organisations, channels or folders, fetched through the connection."""
    spec = get_provider(connection.provider)
    base = spec.api_base_url
    if kind in {"repository", "organisation"}:
        if spec.service != "github":
            raise ValueError(f"{spec.name} has no {kind}s.")
        path = "/user/repos" if kind == "repository" else "/user/orgs"

        def fetch(token):
            items, url, params = [], f"{base}{path}", {"per_page": 100}
            for _ in range(MAX_PAGES):
                response = _get(spec, url, token, params)
                if response.status == 401:
                    return None
                if response.status != 200:
                    raise ProviderUnavailable(f"{spec.name} answered HTTP {response.status}.")
                items += response.json()
                match = _LINK_NEXT.search(response.headers.get("Link", ""))
                if not match:
                    break
                url, params = match.group(1), None
            return items

        items = _call(connection, fetch)
        if kind == "repository":
            return [
                Resource(
                    canonical_id("repository", i["full_name"]),
                    i["full_name"],
                    bool(i["private"]) if "private" in i else None,
                )
                for i in items
            ]
        return [Resource(canonical_id("organisation", i["login"]), i["login"]) for i in items]
    if kind == "channel":
        if spec.service != "slack":
            raise ValueError(f"{spec.name} has no channels.")

        def fetch(token):
            items, cursor = [], ""
            for _ in range(MAX_PAGES):
                params = {"limit": 200, "types": "public_channel"}
                if cursor:
                    params["cursor"] = cursor
                body = _get(spec, f"{base}/conversations.list", token, params).json_or_none() or {}
                if body.get("ok") is not True:
                    if body.get("error") in {"invalid_auth", "token_expired", "token_revoked"}:
                        return None
                    if body.get("error") == "missing_scope":
                        raise ConnectionNeedsReauthorization(
                            "The connection lacks the channels:read scope.", connection=connection
                        )
                    raise ProviderUnavailable()
                items += body.get("channels", [])
                cursor = (body.get("response_metadata") or {}).get("next_cursor") or ""
                if not cursor:
                    break
            return items

        return [
            Resource(
                canonical_id("channel", c["id"]),
                f"#{c['name']}",
                bool(c["is_private"]) if "is_private" in c else None,
            )
            for c in _call(connection, fetch)
        ]
    if kind == "folder":
        if spec.service != "google":
            raise ValueError(f"{spec.name} has no folders.")

        def fetch(token):
            items, page = [], ""
            for _ in range(MAX_PAGES):
                params = {"q": "mimeType = 'application/vnd.google-apps.folder'", "pageSize": 1000}
                if page:
                    params["pageToken"] = page
                response = _get(spec, f"{base}/drive/v3/files", token, params)
                if response.status == 401:
                    return None
                if response.status == 403:
                    raise ConnectionNeedsReauthorization(
                        "The connection lacks Drive access.", connection=connection
                    )
                if response.status != 200:
                    raise ProviderUnavailable()
                body = response.json()
                items += [
                    f
                    for f in body.get("files", [])
                    if f.get("mimeType") == "application/vnd.google-apps.folder"
                ]
                page = body.get("nextPageToken") or ""
                if not page:
                    break
            return items

        return [
            Resource(canonical_id("folder", f["id"]), f["name"]) for f in _call(connection, fetch)
        ]
    raise ValueError(f"Unknown resource kind: {kind!r}.")
