"""The example agent's MCP mode: the same platform, reached the way MCP agents reach tools.

Uses only the official ``mcp`` SDK's client: its ``OAuthClientProvider`` finds the platform from
the ``401`` of ``/mcp`` (RFC 9728 protected resource metadata, then RFC 8414), registers itself
(RFC 7591, or a client ID metadata document with ``--client-metadata-url``), sends the person's
browser to the consent screen, receives the code on a loopback address, and from then on adds the
token to every request, refreshes it when it may (only with background access), and steps up
when a tool needs more (``403 insufficient_scope``: the person is asked for just that).

    agent_app.py mcp tools                                   # what the person let this agent do
    agent_app.py mcp call github.repos.list '{}'             # call one tool, print its result

Registration and tokens are kept in ``<token file>.mcp.json``.
"""

from __future__ import annotations

import http.server
import json
import threading
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp.client.auth.oauth2 import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)


def open_in_browser(url: str) -> None:
    """Where the authorization URL goes (a test replaces this with its own person)."""
    webbrowser.open(url)


class FileStorage:
    """The SDK's TokenStorage, in one JSON file (created owner-only)."""

    def __init__(self, path: Path):
        self.path = path

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write(self, key: str, value: dict) -> None:
        data = self._read()
        data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)
        self.path.write_text(json.dumps(data))

    async def get_tokens(self):
        raw = self._read().get("tokens")
        return OAuthToken.model_validate(raw) if raw else None

    async def set_tokens(self, tokens) -> None:
        self._write("tokens", tokens.model_dump(mode="json", exclude_none=True))

    async def get_client_info(self):
        raw = self._read().get("client")
        return OAuthClientInformationFull.model_validate(raw) if raw else None

    async def set_client_info(self, client_info) -> None:
        self._write("client", client_info.model_dump(mode="json", exclude_none=True))


class Loopback:
    """The redirect URI: a listener on 127.0.0.1 that takes one authorization response."""

    def __init__(self, port: int = 0):
        self.received: dict = {}
        self.done = threading.Event()
        loopback = self

        class Callback(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                loopback.received = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = b"<h1>Done</h1><p>You can close this window.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                loopback.done.set()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Callback)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_port}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _provider(url, storage, loopback, *, open_browser, timeout, client_metadata_url):
    async def redirect_handler(authorization_url: str) -> None:
        print(f"AUTHORIZE_URL {authorization_url}", flush=True)
        if open_browser:
            await anyio.to_thread.run_sync(open_in_browser, authorization_url)

    async def callback_handler() -> AuthorizationCodeResult:
        arrived = await anyio.to_thread.run_sync(loopback.done.wait, timeout)
        loopback.done.clear()
        if not arrived:
            raise RuntimeError("Nobody finished the authorization in time.")
        answer, loopback.received = loopback.received, {}
        if "error" in answer:
            raise RuntimeError(f"The platform answered {answer['error']}.")
        return AuthorizationCodeResult(
            code=answer["code"], state=answer.get("state"), iss=answer.get("iss")
        )

    return OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Example agent (MCP)",
            redirect_uris=[loopback.redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=client_metadata_url or None,
    )


async def _session_do(url, auth, action):
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as session,
    ):
        return await action(session)


def run(args) -> int:
    """``agent_app.py mcp tools`` / ``agent_app.py mcp call NAME ARGUMENTS``."""
    url = args.platform.rstrip("/") + "/mcp"
    storage = FileStorage(Path(str(Path(args.token_file).expanduser()) + ".mcp.json"))
    # Any free port: the platform accepts any port on a loopback redirect URI (RFC 8252 7.3).
    loopback = Loopback(args.port)
    auth = _provider(
        url,
        storage,
        loopback,
        open_browser=not args.no_browser,
        timeout=args.login_timeout,
        client_metadata_url=args.client_metadata_url,
    )
    try:
        if args.mcp_command == "tools":
            result = anyio.run(_session_do, url, auth, lambda s: s.list_tools())
            for tool in result.tools:
                hints = tool.annotations
                kind = "read" if hints and hints.read_only_hint else "write"
                print(f"TOOL {tool.name} ({kind}): {tool.title or tool.description}")
            return 0
        arguments = json.loads(args.arguments or "{}")
        result = anyio.run(_session_do, url, auth, lambda s: s.call_tool(args.tool, arguments))
        print(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
        for block in result.content:
            if getattr(block, "text", None) and result.is_error:
                print(f"ERROR {block.text}")
        return 1 if result.is_error else 0
    finally:
        loopback.close()
