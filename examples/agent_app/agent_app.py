#!/usr/bin/env python3
"""A small agent app that uses the Agent Access Platform, and nothing else.

It is written only against the platform's public interfaces (RFC 8414 metadata, the OAuth 2.0
authorization and token endpoints, the broker API under /api/v1/) with a standard OAuth client
library (Authlib). It never sees a GitHub token: it holds a platform token and asks the broker.

    agent_app.py login                      # authorize (PKCE, loopback redirect), keep the token
    agent_app.py repos                      # the repositories the person selected for this app
    agent_app.py comment OWNER/REPO 1 "Hi"  # a comment that waits for the person's approval
    agent_app.py demo                       # all of the above, in one go
    agent_app.py logout                     # revoke the token at the platform, forget it
    agent_app.py mcp tools                  # MCP mode (mcp_mode.py): the tools granted to it
    agent_app.py mcp call TOOL '{"a": 1}'   # MCP mode: call one tool

Configuration: --platform / PLATFORM_URL, --client-id / AGENT_CLIENT_ID,
--client-secret / AGENT_CLIENT_SECRET (omit for a public client), --token-file / AGENT_TOKEN_FILE.
Each broker error code has its own exit status (see EXIT_CODES) and its own advice.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import threading
import time
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError

DEFAULT_SCOPES = "services.github.repositories.read services.github.repositories.write"
TERMINAL = {"succeeded", "failed", "rejected", "expired", "outcome_unknown"}

# One exit status per outcome, so scripts (and the platform's own journey test) can tell them apart.
EXIT_CODES = {
    "ok": 0,
    "usage": 2,
    "invalid_token": 10,
    "insufficient_scope": 11,
    "resource_not_granted": 12,
    "connection_needs_reauthorization": 13,
    "background_not_allowed": 14,
    "grant_revoked": 15,
    "app_suspended": 16,
    "upstream_unavailable": 17,
    "upstream_rate_limited": 18,
    "upstream_error": 19,
    "rate_limited": 20,
    "api_error": 21,
    "authorization_failed": 22,
    "rejected": 23,
    "failed": 24,
    "expired": 25,
    "timed_out": 26,
    "outcome_unknown": 27,
}

# What the app does, or tells its user, for each broker error code.
ADVICE = {
    "invalid_token": "The platform token is not valid any more; run `login` again.",
    "insufficient_scope": "This app was not granted the scope `{scope}`; run `login` again to ask for it.",
    "resource_not_granted": "The person did not select this resource; run `login` again to select it.",
    "connection_needs_reauthorization": "The person must reconnect the service at {url}",
    "background_not_allowed": "The person's approval window is over and this app has no background "
    "access; ask them to run `login` again.",
    "grant_revoked": "The person revoked this app's access (or it expired). Token forgotten.",
    "app_suspended": "The platform suspended this app. Contact the platform's operators.",
    "upstream_unavailable": "The service could not be reached, even after retrying. Try later.",
    "upstream_rate_limited": "The service is rate-limiting; try again after {retry_after} s.",
    "upstream_error": "The service answered with HTTP {upstream_status}.",
    "rate_limited": "The platform is rate-limiting this app; try again after {retry_after} s.",
}
RETRIES = 3


class AppError(Exception):
    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.code, EXIT_CODES["api_error"])

    def advice(self) -> str:
        template = ADVICE.get(self.code)
        if not template:
            return ""
        values = {"scope": "?", "url": "?", "retry_after": "?", "upstream_status": "?"}
        values.update({k: v for k, v in self.details.items() if v is not None})
        return template.format(**values)


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


# --- tokens on disk ---------------------------------------------------------------------------


def load_token(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def save_token(path: Path, token: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(token), handle)


# --- the platform -----------------------------------------------------------------------------


class Platform:
    def __init__(self, args):
        self.base = args.platform.rstrip("/") + "/"
        self.client_id = args.client_id
        self.client_secret = args.client_secret or None
        self.scope = args.scope
        self.token_file = Path(args.token_file).expanduser()
        self.http = requests.Session()
        self.metadata = self._metadata()

    def _metadata(self) -> dict:
        """RFC 8414: where the endpoints are. Falls back to the documented paths."""
        fallback = {
            "authorization_endpoint": urljoin(self.base, "oauth/authorize/"),
            "token_endpoint": urljoin(self.base, "oauth/token/"),
            "revocation_endpoint": urljoin(self.base, "oauth/revoke_token/"),
        }
        try:
            response = self.http.get(
                urljoin(self.base, ".well-known/oauth-authorization-server"), timeout=10
            )
        except requests.RequestException as exc:
            raise AppError(
                "api_error", f"The platform at {self.base} is not reachable: {exc}"
            ) from exc
        if response.status_code != 200:
            return fallback
        return {**fallback, **response.json()}

    def session(self, token: dict | None = None, redirect_uri: str | None = None) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            scope=self.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token=token,
            token_endpoint=self.metadata["token_endpoint"],
            # Authlib refreshes an expired access token by itself; keep the rotated refresh token.
            update_token=lambda new, **_: save_token(self.token_file, new),
        )

    # -- authorization code with PKCE, loopback redirect (RFC 8252) ----------------------------

    def login(self, *, port: int, open_browser: bool, timeout: float) -> dict:
        received: dict = {}
        done = threading.Event()

        class Callback(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                received.update({k: v[0] for k, v in parse_qs(parts.query).items()})
                received["_url"] = f"http://127.0.0.1:{server.server_port}{self.path}"
                ok = "code" in received
                body = (
                    "<h1>Done</h1><p>The agent app is connected. You can close this window.</p>"
                    if ok
                    else "<h1>Not connected</h1><p>The agent app was not authorized.</p>"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())
                done.set()

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", port), Callback)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
        session = self.session(redirect_uri=redirect_uri)
        verifier = generate_token(64)
        url, state = session.create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier
        )
        say(
            "Open this URL in your browser to let the agent app act for you:",
            f"AUTHORIZE_URL {url}",
        )
        if open_browser:
            webbrowser.open(url)
        try:
            if not done.wait(timeout):
                raise AppError("authorization_failed", "Nobody finished the authorization in time.")
        finally:
            server.shutdown()
            server.server_close()
        if "error" in received:
            description = received.get("error_description", "")
            raise AppError(
                "authorization_failed",
                f"The platform answered {received['error']}: {description}".strip(),
            )
        try:
            token = session.fetch_token(
                self.metadata["token_endpoint"],
                authorization_response=received["_url"],
                state=state,
                code_verifier=verifier,
            )
        except OAuthError as exc:
            raise AppError("authorization_failed", f"Token exchange failed: {exc.error}") from exc
        save_token(self.token_file, token)
        say(f"Authorized. Scopes: {token.get('scope', '')}")
        return token

    def logout(self) -> None:
        token = load_token(self.token_file)
        if token:
            session = self.session(token)
            for kind in ("refresh_token", "access_token"):
                if token.get(kind):
                    session.revoke_token(
                        self.metadata["revocation_endpoint"], token[kind], token_type_hint=kind
                    )
        self.token_file.unlink(missing_ok=True)
        say("Logged out: the platform token is revoked and forgotten.")

    # -- the broker ----------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs) -> tuple[int, dict]:
        token = load_token(self.token_file)
        if not token:
            raise AppError("invalid_token", "Not logged in.")
        url = urljoin(self.base, path.lstrip("/"))
        refreshed = False
        for attempt in range(RETRIES + 1):
            session = self.session(token)
            try:
                response = session.request(method, url, timeout=30, **kwargs)
            except OAuthError as exc:  # the automatic refresh itself was refused
                raise AppError(
                    "invalid_token", f"Refreshing the token failed: {exc.error}"
                ) from exc
            except requests.RequestException as exc:
                raise AppError("api_error", f"The platform is not reachable: {exc}") from exc
            if response.status_code < 400:
                return response.status_code, (response.json() if response.content else {})
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "api_error", "message": f"HTTP {response.status_code}"}
            code = error.get("code", "api_error")
            retry_after = response.headers.get("Retry-After")
            details = {**error, "retry_after": retry_after}
            if code == "invalid_token" and not refreshed and token.get("refresh_token"):
                refreshed = True  # an access token revoked or expired early: refresh once
                try:
                    token = session.refresh_token(self.metadata["token_endpoint"])
                except OAuthError:
                    raise AppError(code, error.get("message", ""), details) from None
                save_token(self.token_file, token)
                continue
            if code == "grant_revoked":
                self.token_file.unlink(missing_ok=True)
            if attempt < RETRIES and code in {
                "upstream_unavailable",
                "upstream_rate_limited",
                "rate_limited",
            }:
                wait = min(float(retry_after or 2**attempt), 30.0)
                say(f"({code}: retrying in {wait:g} s)")
                time.sleep(wait)
                continue
            raise AppError(code, error.get("message", ""), details)
        raise AppError("api_error", "Gave up after retrying.")

    def repos(self, *, max_pages: int = 50) -> list[dict]:
        """Every selected repository: the broker pages its lists, so follow ``next_page``."""
        items: list[dict] = []
        page = None
        for _ in range(max_pages):
            path = "api/v1/github/repos" + (f"?page={quote(page)}" if page else "")
            _, body = self.call("GET", path)
            items += body.get("items", [])
            page = body.get("next_page")
            if not page:
                break
        return items

    def comment(self, repo: str, issue: int, text: str, *, wait: float, every: float) -> dict:
        owner, _, name = repo.partition("/")
        status, body = self.call(
            "POST",
            f"api/v1/github/repos/{quote(owner)}/{quote(name)}/issues/{issue}/comments",
            json={"body": text},
        )
        if status != 202:
            say(
                f"Comment posted at once (unattended writes allowed): {body.get('data', {}).get('html_url', '')}"
            )
            return {"status": "succeeded", "result": body}
        action = body["pending_action"]
        say(
            f"PENDING_ACTION {action['id']} is waiting for the person's approval "
            f"at {urljoin(self.base, 'consent/approvals/')}"
        )
        deadline = time.monotonic() + wait
        last = action["status"]
        while action["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise AppError("timed_out", f"Still {action['status']} after {wait:g} s.")
            time.sleep(every)
            _, body = self.call("GET", action["status_url"])
            action = body["pending_action"]
            if action["status"] != last:
                say(f"  status: {action['status']}")
                last = action["status"]
        return action


# --- the command line -------------------------------------------------------------------------


def print_outcome(action: dict) -> int:
    status = action["status"]
    result = action.get("result") or {}
    if status == "succeeded":
        data = result.get("data") or {}
        say(f"OUTCOME succeeded: comment {data.get('id', '?')} {data.get('html_url', '')}".rstrip())
        return EXIT_CODES["ok"]
    say(f"OUTCOME {status}: {result.get('error') or 'nothing was written'}")
    return EXIT_CODES[status]


def _add_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value):
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--platform", default=default(os.environ.get("PLATFORM_URL", "http://127.0.0.1:8000"))
    )
    parser.add_argument(
        "--client-id", default=default(os.environ.get("AGENT_CLIENT_ID", "demo-agent"))
    )
    parser.add_argument(
        "--client-secret", default=default(os.environ.get("AGENT_CLIENT_SECRET", ""))
    )
    parser.add_argument("--scope", default=default(os.environ.get("AGENT_SCOPES", DEFAULT_SCOPES)))
    parser.add_argument(
        "--token-file",
        default=default(os.environ.get("AGENT_TOKEN_FILE", "~/.config/agent_app/token.json")),
    )
    parser.add_argument(
        "--port", type=int, default=default(0), help="loopback port (0: any free port)"
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        default=default(False),
        help="print the URL, do not open it",
    )
    parser.add_argument("--login-timeout", type=float, default=default(300))
    parser.add_argument(
        "--wait", type=float, default=default(600), help="seconds to wait for approval"
    )
    parser.add_argument(
        "--poll", type=float, default=default(2), help="seconds between status checks"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _add_options(parser, suppress=False)
    # The same options after the command too (`agent_app.py demo --no-browser`): on a
    # subcommand they default to "not given", so they never override one given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("login", parents=[common])
    commands.add_parser("repos", parents=[common])
    comment = commands.add_parser("comment", parents=[common])
    comment.add_argument("repo", help="owner/repo")
    comment.add_argument("issue", type=int)
    comment.add_argument("text")
    demo = commands.add_parser("demo", parents=[common])
    demo.add_argument("--issue", type=int, default=1)
    demo.add_argument("--text", default="Hello from the example agent app.")
    commands.add_parser("logout", parents=[common])
    mcp = commands.add_parser(
        "mcp", parents=[common], help="talk to the platform's MCP endpoint (/mcp) instead"
    )
    mcp.add_argument(
        "--client-metadata-url",
        default=os.environ.get("AGENT_CLIENT_METADATA_URL", ""),
        help="an https URL of this agent's client ID metadata document (else: registers itself)",
    )
    mcp_commands = mcp.add_subparsers(dest="mcp_command", required=True)
    mcp_commands.add_parser("tools")
    mcp_call = mcp_commands.add_parser("call")
    mcp_call.add_argument("tool")
    mcp_call.add_argument("arguments", nargs="?", default="{}", help="the arguments, as JSON")
    args = parser.parse_args(argv)

    if args.command == "mcp":
        # Imported here so that the REST commands run without the mcp SDK installed.
        import mcp_mode

        return mcp_mode.run(args)

    try:
        platform = Platform(args)
        if args.command == "login" or (
            args.command == "demo" and not load_token(platform.token_file)
        ):
            platform.login(
                port=args.port, open_browser=not args.no_browser, timeout=args.login_timeout
            )
            if args.command == "login":
                return EXIT_CODES["ok"]
        if args.command == "logout":
            platform.logout()
            return EXIT_CODES["ok"]
        if args.command in ("repos", "demo"):
            repos = platform.repos()
            say("Repositories you selected for this app:")
            say(*(f"REPO {r.get('full_name', r.get('id'))}" for r in repos))
            if args.command == "repos":
                return EXIT_CODES["ok"]
            if not repos:
                raise AppError("resource_not_granted", "No repository was selected for this app.")
            target, issue, text = repos[0].get("full_name"), args.issue, args.text
        else:
            target, issue, text = args.repo, args.issue, args.text
        action = platform.comment(target, issue, text, wait=args.wait, every=args.poll)
        return print_outcome(action)
    except AppError as exc:
        print(f"ERROR {exc.code}: {exc.message}", file=sys.stderr)
        if exc.advice():
            print(exc.advice(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
