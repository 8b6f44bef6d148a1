"""How a provider is told to forget the platform's tokens: a strategy each declaration names.

A strategy is pure: it says which request to send (:meth:`Revocation.request`) and whether the
answer means the tokens are gone (:meth:`Revocation.succeeded`); ``connections.tokens.revoke``
sends it through the outbound client. "Already gone" counts as revoked everywhere: disconnecting
must not fail because the person revoked the app at the provider first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RevokeRequest:
    method: str
    url: str
    # Keyword arguments of ``connections.outbound.request`` (body, auth, headers).
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Revocation:
    """RFC 7009 (Google, the sandbox, generic providers): POST the token to ``revoke_url``;
    revoking the refresh token ends the whole grant. Google answers ``400 invalid_token`` for a
    token that is already gone."""

    def request(
        self, url: str, *, client_id: str, secret: str, access_token: str | None,
        refresh_token: str | None,
    ) -> RevokeRequest:  # fmt: skip
        token = refresh_token or access_token
        data = {"token": token, "client_id": client_id, "client_secret": secret}
        return RevokeRequest("POST", url, {"data": data})

    def succeeded(self, status: int, body: Mapping) -> bool:
        return status == 200 or (status == 400 and body.get("error") == "invalid_token")


@dataclass(frozen=True, slots=True)
class GitHubGrantRevocation(Revocation):
    """GitHub: ``DELETE /applications/{client_id}/grant`` with the app's basic auth revokes every
    token of the grant; 404 means there is no grant left."""

    def request(self, url, *, client_id, secret, access_token, refresh_token) -> RevokeRequest:
        return RevokeRequest(
            "DELETE",
            url.format(client_id=client_id),
            {
                "json_body": {"access_token": access_token},
                "basic": (client_id, secret),
                "headers": {"Accept": "application/vnd.github+json"},
            },
        )

    def succeeded(self, status: int, body: Mapping) -> bool:
        return status in {204, 404}


@dataclass(frozen=True, slots=True)
class SlackAuthRevoke(Revocation):
    """Slack: ``auth.revoke`` with the token itself as the bearer; answers 200 with ``ok``, and
    ``invalid_auth`` / ``token_revoked`` for a token that is already gone."""

    def request(self, url, *, client_id, secret, access_token, refresh_token) -> RevokeRequest:
        return RevokeRequest("POST", url, {"bearer": access_token})

    def succeeded(self, status: int, body: Mapping) -> bool:
        return status == 200 and (
            body.get("ok") is True or body.get("error") in {"invalid_auth", "token_revoked"}
        )


RFC7009 = Revocation()
GITHUB_GRANT = GitHubGrantRevocation()
SLACK_AUTH_REVOKE = SlackAuthRevoke()
