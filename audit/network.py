"""The client's address, as rate limits and the audit log see it.

Behind a TLS proxy every request's ``REMOTE_ADDR`` is the proxy. ``X-Forwarded-For`` names the
real client, but anyone can send that header: it is believed only when the request comes from a
proxy listed in ``TRUSTED_PROXIES`` (config/env.py), and then read from the right, skipping the
trusted hops, so a client cannot put a made-up address in front of the one its proxy appended.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]):
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _address(raw: str):
    raw = raw.strip()
    if raw.startswith("[") and "]" in raw:  # "[::1]:443"
        raw = raw[1 : raw.index("]")]
    elif raw.count(":") == 1:  # "192.0.2.1:443"
        raw = raw.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address, networks) -> bool:
    return any(address in network for network in networks)


def client_address(request) -> str | None:
    """The address of the client behind the trusted proxies, or ``REMOTE_ADDR``; None if unknown."""
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return None
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [part for part in forwarded.split(",") if part.strip()]
    client = remote
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage from an untrusted party: stop at the last hop we could read
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
