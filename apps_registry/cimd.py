"""Fetching Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), the way
MCP clients identify themselves: the ``client_id`` is an https URL whose document the platform
fetches, caches and validates.

django-oauth-toolkit resolves, caches (``cimd_expires_at`` from ``Cache-Control``, clamped),
backs off failures and caps concurrent fetches; :class:`PlatformMetadataFetcher` is the fetch it
calls (``CIMD_METADATA_FETCHER``). The fetch is a request to a URL the client chose, made before
anyone signed in, so it is an SSRF surface:

- https only; the URL carries no userinfo, fragment or dot segments;
- every address the host resolves to must be public (private, link-local, the cloud metadata
  address, CGNAT, multicast, IPv4 smuggled in IPv6 forms are refused); the connection goes to the
  validated address, so a second DNS answer cannot rebind it;
- no redirects (a 3xx is a failure), one deadline for the whole fetch, a size cap, JSON only;
- proxies, ``.netrc`` and CA bundles from the environment play no part.

Loopback addresses are refused too, except when ``OAUTH_CIMD_ALLOW_LOOPBACK`` is on (the test
suite's local https server; never in production). ``OAUTH_CIMD_CA_BUNDLE`` names extra trust
anchors for the same purpose.

On top of the draft's rules the document must name the client (``client_name``) and its redirect
URIs must be https, or http on a loopback IP literal (RFC 8252 7.3), as for every other client.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time

import urllib3
from django.conf import settings
from oauth2_provider import cimd as dot_cimd
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.settings import oauth2_settings

from apps_registry.services import RegistryError, validate_redirect_uri


def _address_allowed(ip: str) -> bool:
    if dot_cimd._ip_is_public(ip):
        return True
    if getattr(settings, "OAUTH_CIMD_ALLOW_LOOPBACK", False):
        try:
            return ipaddress.ip_address(ip).is_loopback
        except ValueError:
            return False
    return False


def _resolve(hostname: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise CIMDError(f"could not resolve client_id host: {exc}") from exc
    ips = [info[4][0] for info in infos]
    refused = [ip for ip in ips if not _address_allowed(ip)]
    if refused:
        # One internal address refuses the whole host: no cherry-picking a good one.
        raise CIMDError(f"client_id host resolves to a non-public address ({refused[0]})")
    if not ips:
        raise CIMDError("client_id host did not resolve to any address")
    return ips


def _ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    bundle = getattr(settings, "OAUTH_CIMD_CA_BUNDLE", "")
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context


def validate_document(metadata: dict) -> None:
    """The platform's rules on what a client's document may say (beyond the draft's)."""
    name = metadata.get("client_name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise CIMDError("client_name must be a non-empty string of at most 100 characters")
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > 10:
        raise CIMDError("redirect_uris must list one to ten URIs")
    for uri in uris:
        if not isinstance(uri, str):
            raise CIMDError("redirect_uris must be strings")
        try:
            validate_redirect_uri(uri)
        except RegistryError as problem:
            raise CIMDError(f"redirect URI refused: {problem}") from None


class PlatformMetadataFetcher(SafeMetadataFetcher):
    def fetch(self, client_id):
        parsed = dot_cimd._validate_client_id_url(client_id)
        port = parsed.port or 443
        ips = _resolve(parsed.hostname, port)
        timeout = oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        headers = {"Host": parsed.netloc, "Accept": "application/json, application/*+json"}
        deadline = time.monotonic() + timeout
        context = _ssl_context()
        last_problem = None
        for ip in ips:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Connect to the validated address; SNI, certificate and Host use the real name.
            pool = urllib3.HTTPSConnectionPool(
                host=ip,
                port=port,
                timeout=urllib3.Timeout(connect=remaining, read=remaining, total=remaining),
                retries=False,
                maxsize=1,
                ssl_context=context,
                server_hostname=parsed.hostname,
                assert_hostname=parsed.hostname,
            )
            try:
                response = pool.urlopen(
                    "GET", path, headers=headers, redirect=False, preload_content=False
                )
                try:
                    metadata, max_age = self._read_document(response)
                finally:
                    response.release_conn()
            except urllib3.exceptions.HTTPError as exc:
                last_problem = exc
                continue
            finally:
                pool.close()
            validate_document(metadata)
            return metadata, max_age
        raise CIMDError(f"could not fetch client_id document: {last_problem}")
