"""The person's resources at a provider (for the consent screen), read as each provider's
declaration says, in the one canonical form of their kind (``connections.providers.kinds``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from connections import outbound
from connections.exceptions import ConnectionNeedsReauthorization, ProviderUnavailable
from connections.providers import answers, get_provider
from connections.providers.kinds import canonical_or_error
from connections.services import get_valid_access_token

MAX_PAGES = 20


@dataclass(frozen=True, slots=True)
class Resource:
    id: str
    label: str
    # True/False where the provider says whether it is private (repositories, channels).
    private: bool | None = field(default=None, compare=False)


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


def _page(spec, listing, url, params, token):
    """One page: its items and where the next one is (URL, params), or raise."""
    response = _get(spec, url, token, params)
    body = response.json_or_none()
    if answers.is_auth_rejection(spec.dialect, response.status, body):
        raise answers.AuthRejected()
    error = answers.ok_false_error(spec.dialect, body)
    if listing.missing_scope_status is not None and response.status == listing.missing_scope_status:
        error = "missing_scope"
    if error == "missing_scope":
        raise ConnectionNeedsReauthorization(
            f"The connection lacks the {spec.name} access this list needs."
        )
    if error or response.status != 200:
        raise ProviderUnavailable(f"{spec.name} answered HTTP {response.status}.")
    items = answers.dig(body, listing.items_path)
    if not isinstance(items, list):
        raise ProviderUnavailable(f"{spec.name} sent a list the platform cannot read.")
    paging = listing.paging
    if paging.style == "link":
        following = answers.next_link(response.headers)
        return items, ((following, None) if following else None)
    if paging.style == "cursor":
        cursor = answers.next_cursor(paging, body)
        return items, ((url, {**params, paging.param: cursor}) if cursor else None)
    return items, None


def _item(listing, item) -> Resource | None:
    if not isinstance(item, dict):
        return None
    if listing.filter_field and item.get(listing.filter_field) != listing.filter_value:
        return None
    raw = item.get(listing.id_field)
    label = item.get(listing.label_field) if listing.label_field else raw
    return Resource(
        canonical_or_error(listing.kind, raw),
        f"{listing.label_prefix}{label or raw}",
        bool(item[listing.private_field])
        if listing.private_field and listing.private_field in item
        else None,
    )


def list_resources(connection, kind: str) -> list[Resource]:
    """The person's resources of ``kind``, fetched through the connection as its provider's
    declaration says (:class:`connections.providers.base.Listing`); on a refused token, one
    forced refresh and one retry."""
    spec = get_provider(connection.provider)
    listing = spec.listing(kind)
    if listing is None:
        raise ValueError(f"{spec.name} has no {kind}s.")
    first = {**listing.query}
    if listing.paging.size_param:
        first[listing.paging.size_param] = str(listing.paging.size)

    def fetch(token: str) -> list:
        items, following = [], (f"{spec.api_base_url}{listing.path}", first)
        for _ in range(MAX_PAGES):
            page, following = _page(spec, listing, *following, token)
            items += page
            if following is None:
                break
        return items

    try:
        items = answers.with_refresh(
            lambda rejected: (
                get_valid_access_token(connection, rejected_token=rejected)
                if rejected
                else get_valid_access_token(connection)
            ),
            fetch,
            on_rejected=lambda _token: ConnectionNeedsReauthorization(connection=connection),
        )
    except ConnectionNeedsReauthorization as exc:
        exc.connection = connection
        raise
    return [r for r in (_item(listing, i) for i in items) if r is not None]
