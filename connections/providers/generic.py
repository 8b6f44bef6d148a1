"""A generic OAuth 2.0 / OIDC provider declared as data (settings ``GENERIC_PROVIDERS``, read by
``config.env`` from the JSON file named by ``PROVIDERS_FILE``).

One entry per provider::

    {"id": "acme", "name": "Acme", "service": "acme",
     "issuer": "https://id.acme.example",  # endpoints discovered from it, unless given:
     "authorize_url": "...", "token_url": "...", "revoke_url": "...", "api_base_url": "...",
     "scope_delimiter": " ", "default_scopes": ["openid"],
     "scopes": {"services.acme.projects.read": ["projects:read"]},
     "scope_words": {"projects:read": "See your projects"},
     "listings": [{"kind": "project", "path": "/projects", "items_path": ["items"],
                   "label_field": "name", "paging": {"style": "cursor", "param": "cursor",
                                                      "next_path": ["next_cursor"]}}],
     "profile": {"path": "/userinfo", "id_field": "sub", "login_fields": ["preferred_username"]},
     "operations": [...]}  # broker operations: connections.providers.operations.operation_from_data

The entry is checked here (a clear ValueError names the field); the platform scopes and operations
it backs are validated with the registry by the start-up checks (``connections.checks``,
``consent.checks``, ``broker.checks``). It revokes by RFC 7009.
"""

from __future__ import annotations

from collections.abc import Mapping

from connections.providers.base import Listing, Paging, Profile, ProviderSpec
from connections.providers.operations import operation_from_data

_REQUIRED = ("id", "name", "service", "api_base_url")


def _strings(entry: Mapping, key: str) -> tuple[str, ...]:
    value = entry.get(key, ())
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"Generic provider field {key!r} must be a list of strings.")
    return tuple(value)


def from_data(entry: Mapping) -> ProviderSpec:
    """One data-file entry as a declaration; ValueError naming the field when it is wrong."""
    entry = _thawed(entry)
    if not isinstance(entry, Mapping):
        raise ValueError("A generic provider entry must be an object.")
    missing = [k for k in _REQUIRED if not entry.get(k)]
    if not entry.get("issuer"):
        # Without an issuer to discover them from, the endpoints are given.
        missing += [k for k in ("authorize_url", "token_url") if not entry.get(k)]
    if missing:
        raise ValueError(f"Generic provider {entry.get('id', '?')!r} lacks {', '.join(missing)}.")
    listings = []
    for raw in entry.get("listings", ()):
        raw = dict(raw)
        paging = dict(raw.pop("paging", {"style": "none"}))
        paging["next_path"] = tuple(paging.get("next_path", ()))
        paging = Paging(**paging)
        raw["items_path"] = tuple(raw.get("items_path", ()))
        raw["query"] = dict(raw.get("query", {}))
        listings.append(Listing(paging=paging, **raw))
    profile = entry.get("profile")
    if profile is not None:
        profile = dict(profile)
        for key in ("login_fields", "name_fields", "required", "extra_fields"):
            if key in profile:
                profile[key] = tuple(profile[key])
        profile = Profile(**profile)
    scopes = {str(k): _strings({"v": v}, "v") for k, v in dict(entry.get("scopes", {})).items()}
    return ProviderSpec(
        id=str(entry["id"]),
        name=str(entry["name"]),
        service=str(entry["service"]),
        is_sandbox=False,
        default_scopes=_strings(entry, "default_scopes"),
        authorize_url=str(entry.get("authorize_url", "")),
        token_url=str(entry.get("token_url", "")),
        revoke_url=str(entry.get("revoke_url", "")),
        api_base_url=str(entry["api_base_url"]).rstrip("/"),
        scope_delimiter=str(entry.get("scope_delimiter", " ")),
        pkce=bool(entry.get("pkce", True)),
        rotates_refresh_tokens=bool(entry.get("rotates_refresh_tokens", False)),
        scopes=scopes,
        scope_words={str(k): str(v) for k, v in dict(entry.get("scope_words", {})).items()},
        listings=tuple(listings),
        profile=profile,
        issuer=str(entry.get("issuer", "")).rstrip("/"),
        generic=True,
        platform_scopes=tuple(dict(s) for s in entry.get("platform_scopes", ())),
        operations=tuple(
            operation_from_data(str(entry["service"]), o) for o in entry.get("operations", ())
        ),
        service_sentence=str(entry.get("on_your_behalf", f"act in {entry['name']} as you")),
    )


def _thawed(value):
    """Undo the registry's freezing (settings entries are cached as nested tuples)."""
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value)
    ):
        return {k: _thawed(v) for k, v in value}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    return value
