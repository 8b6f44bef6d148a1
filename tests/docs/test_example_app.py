"""The example agent app (examples/agent_app/) against a scripted platform over real HTTP:
each broker error code gets its own exit status and advice, retries and refreshes happen, and a
pending write is polled to its outcome. The journey test runs it against the real platform."""

from __future__ import annotations

import http.server
import importlib.util
import json
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_app():
    spec = importlib.util.spec_from_file_location(
        "agent_app", ROOT / "examples" / "agent_app" / "agent_app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


agent_app = load_app()


class ScriptedPlatform:
    """A local HTTP server answering from a script: ``{(method, path): [responses...]}``."""

    def __init__(self):
        self.script: dict[tuple[str, str], list[tuple[int, dict, dict]]] = {}
        self.requests: list[tuple[str, str, dict, bytes]] = []
        platform = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                platform.requests.append((self.command, self.path, dict(self.headers), body))
                queue = platform.script.get((self.command, self.path.split("?")[0]))
                if not queue:
                    status, payload, headers = (
                        404,
                        {"error": {"code": "not_found", "message": "no"}},
                        {},
                    )
                else:
                    status, payload, headers = queue.pop(0) if len(queue) > 1 else queue[0]
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def on(self, method: str, path: str, *responses):
        self.script[(method, path)] = [(r[0], r[1], r[2] if len(r) > 2 else {}) for r in responses]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform():
    server = ScriptedPlatform()
    server.on(
        "GET",
        "/.well-known/oauth-authorization-server",
        (
            200,
            {
                "issuer": server.url,
                "authorization_endpoint": f"{server.url}/oauth/authorize/",
                "token_endpoint": f"{server.url}/oauth/token/",
                "revocation_endpoint": f"{server.url}/oauth/revoke_token/",
            },
        ),
    )
    yield server
    server.close()


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token.json"
    path.write_text(
        json.dumps(
            {
                "access_token": "access-1",
                "refresh_token": "refresh-1",
                "token_type": "Bearer",
                "expires_at": 4_000_000_000,
            }
        )
    )
    return path


def run(platform, token_file, *args):
    return agent_app.main(
        [
            "--platform",
            platform.url,
            "--client-id",
            "demo-agent",
            "--client-secret",
            "s3cret",
            "--token-file",
            str(token_file),
            "--poll",
            "0.01",
            "--wait",
            "5",
            *args,
        ]
    )


def error(code, status, **details):
    return (status, {"error": {"code": code, "message": f"{code} happened", **details}})


REPOS = "/api/v1/github/repos"


def test_lists_the_selected_repositories_with_the_bearer_token(platform, token_file, capsys):
    platform.on(
        "GET", REPOS, (200, {"items": [{"full_name": "octo-demo/docs"}], "next_page": None})
    )
    assert run(platform, token_file, "repos") == 0
    assert "REPO octo-demo/docs" in capsys.readouterr().out
    (call,) = [r for r in platform.requests if r[1] == REPOS]
    assert call[2]["Authorization"] == "Bearer access-1"


def test_lists_every_page_of_selected_repositories(platform, token_file, capsys):
    platform.on(
        "GET",
        REPOS,
        (200, {"items": [{"full_name": "octo-demo/docs"}], "next_page": "2"}),
        (200, {"items": [{"full_name": "octocat/hello-world"}], "next_page": None}),
    )
    assert run(platform, token_file, "repos") == 0
    out = capsys.readouterr().out
    assert "REPO octo-demo/docs" in out and "REPO octocat/hello-world" in out
    assert [r[1] for r in platform.requests if r[1].startswith(REPOS)] == [REPOS, REPOS + "?page=2"]


def test_options_work_before_and_after_the_command(platform, token_file, capsys):
    platform.on("GET", REPOS, (200, {"items": [], "next_page": None}))
    # As the README writes it: the option after the command.
    assert run(platform, token_file, "repos", "--no-browser", "--poll", "0.01") == 0
    assert agent_app.main(["--no-browser", "--platform", platform.url, "--token-file",
                           str(token_file), "repos"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    ("code", "status", "details", "advice"),
    [
        (
            "insufficient_scope",
            403,
            {"scope": "services.github.repositories.read"},
            "services.github.repositories.read",
        ),
        ("resource_not_granted", 403, {}, "did not select"),
        (
            "connection_needs_reauthorization",
            409,
            {"url": "http://p/connections/7/upgrade/"},
            "http://p/connections/7/upgrade/",
        ),
        ("background_not_allowed", 403, {}, "no background"),
        ("grant_revoked", 403, {}, "revoked"),
        ("app_suspended", 403, {}, "suspended"),
        ("upstream_error", 502, {"upstream_status": 500}, "HTTP 500"),
        ("invalid_request", 400, {}, ""),
    ],
)
def test_each_error_code_has_its_exit_status_and_advice(
    platform, token_file, capsys, code, status, details, advice
):
    platform.on("GET", REPOS, error(code, status, **details))
    exit_code = run(platform, token_file, "repos")
    assert exit_code == agent_app.EXIT_CODES.get(code, agent_app.EXIT_CODES["api_error"])
    err = capsys.readouterr().err
    assert f"ERROR {code}:" in err
    assert advice in err
    # A refusal is never retried (only unavailability and rate limits are).
    assert len([r for r in platform.requests if r[1] == REPOS]) == 1


def test_revoked_grant_forgets_the_token(platform, token_file):
    platform.on("GET", REPOS, error("grant_revoked", 403))
    assert run(platform, token_file, "repos") == agent_app.EXIT_CODES["grant_revoked"]
    assert not token_file.exists()


@pytest.mark.parametrize(
    ("code", "status"),
    [("upstream_unavailable", 503), ("upstream_rate_limited", 429), ("rate_limited", 429)],
)
def test_unavailable_and_rate_limited_are_retried_after_the_indicated_delay(
    platform, token_file, capsys, code, status
):
    refusal = (*error(code, status), {"Retry-After": "0"})
    platform.on("GET", REPOS, refusal, (200, {"items": [], "next_page": None}))
    assert run(platform, token_file, "repos") == 0
    assert f"({code}: retrying in 0 s)" in capsys.readouterr().out


def test_retries_are_bounded(platform, token_file):
    platform.on("GET", REPOS, (*error("upstream_unavailable", 503), {"Retry-After": "0"}))
    assert run(platform, token_file, "repos") == agent_app.EXIT_CODES["upstream_unavailable"]
    assert len([r for r in platform.requests if r[1] == REPOS]) == agent_app.RETRIES + 1


def test_invalid_token_refreshes_once_then_succeeds(platform, token_file):
    platform.on("GET", REPOS, error("invalid_token", 401), (200, {"items": [], "next_page": None}))
    platform.on(
        "POST",
        "/oauth/token/",
        (
            200,
            {
                "access_token": "access-2",
                "refresh_token": "refresh-2",
                "token_type": "Bearer",
                "expires_in": 600,
            },
        ),
    )
    assert run(platform, token_file, "repos") == 0
    calls = [r for r in platform.requests if r[1] == REPOS]
    assert [c[2]["Authorization"] for c in calls] == ["Bearer access-1", "Bearer access-2"]
    (refresh,) = [r for r in platform.requests if r[1] == "/oauth/token/"]
    assert b"grant_type=refresh_token" in refresh[3] and b"refresh_token=refresh-1" in refresh[3]
    # The rotated refresh token replaces the old one on disk.
    assert json.loads(token_file.read_text())["refresh_token"] == "refresh-2"


def test_invalid_token_after_a_refused_refresh_stops(platform, token_file, capsys):
    platform.on("GET", REPOS, error("invalid_token", 401))
    platform.on("POST", "/oauth/token/", (400, {"error": "invalid_grant"}))
    assert run(platform, token_file, "repos") == agent_app.EXIT_CODES["invalid_token"]
    assert "run `login` again" in capsys.readouterr().err


def pending(status, **extra):
    return {
        "pending_action": {
            "id": 41,
            "status": status,
            "status_url": "/api/v1/actions/41",
            **extra,
        }
    }


COMMENTS = "/api/v1/github/repos/octo-demo/docs/issues/1/comments"


def test_comment_waits_for_approval_and_prints_the_outcome(platform, token_file, capsys):
    platform.on("POST", COMMENTS, (202, pending("pending")))
    platform.on(
        "GET",
        "/api/v1/actions/41",
        (200, pending("pending")),
        (200, pending("approved")),
        (
            200,
            pending(
                "succeeded",
                result={
                    "upstream_status": 201,
                    "data": {"id": 9, "html_url": "https://x/9"},
                    "error": None,
                },
            ),
        ),
    )
    assert run(platform, token_file, "comment", "octo-demo/docs", "1", "Hello") == 0
    out = capsys.readouterr().out
    assert "PENDING_ACTION 41 is waiting" in out
    assert "status: approved" in out
    assert "OUTCOME succeeded: comment 9 https://x/9" in out
    (post,) = [r for r in platform.requests if r[1] == COMMENTS]
    assert json.loads(post[3]) == {"body": "Hello"}


@pytest.mark.parametrize("final", ["rejected", "expired", "failed"])
def test_comment_that_is_not_performed_says_why(platform, token_file, capsys, final):
    platform.on("POST", COMMENTS, (202, pending("pending")))
    platform.on(
        "GET",
        "/api/v1/actions/41",
        (200, pending(final, result={"upstream_status": None, "data": None, "error": "no"})),
    )
    assert (
        run(platform, token_file, "comment", "octo-demo/docs", "1", "Hello")
        == agent_app.EXIT_CODES[final]
    )
    assert f"OUTCOME {final}" in capsys.readouterr().out


def test_waiting_gives_up_at_the_deadline(platform, token_file, capsys):
    platform.on("POST", COMMENTS, (202, pending("pending")))
    platform.on("GET", "/api/v1/actions/41", (200, pending("pending")))
    exit_code = agent_app.main(
        [
            "--platform",
            platform.url,
            "--token-file",
            str(token_file),
            "--poll",
            "0.01",
            "--wait",
            "0.05",
            "comment",
            "octo-demo/docs",
            "1",
            "Hello",
        ]
    )
    assert exit_code == agent_app.EXIT_CODES["timed_out"]


def test_not_logged_in_is_an_invalid_token_error(platform, tmp_path):
    assert run(platform, tmp_path / "none.json", "repos") == agent_app.EXIT_CODES["invalid_token"]


def test_every_broker_error_code_of_the_contract_has_an_exit_status_and_advice():
    contract = (
        (ROOT / "docs" / "architecture.md")
        .read_text()
        .split("with the codes listed", 1)[1]
        .split(").", 1)[0]
    )
    import re

    codes = set(re.findall(r"(?<!\+\s)`([a-z_]+)`", contract))
    assert codes, "the contract lists the broker's error codes"
    assert codes <= set(agent_app.EXIT_CODES)
    assert codes - {"invalid_token"} <= set(agent_app.ADVICE) | {"invalid_token"}


def test_demo_lists_then_comments_on_the_first_selected_repository(platform, token_file, capsys):
    platform.on(
        "GET", REPOS, (200, {"items": [{"full_name": "octo-demo/docs"}], "next_page": None})
    )
    platform.on("POST", COMMENTS, (202, pending("pending")))
    platform.on(
        "GET",
        "/api/v1/actions/41",
        (
            200,
            pending("succeeded", result={"upstream_status": 201, "data": {"id": 3}, "error": None}),
        ),
    )
    assert run(platform, token_file, "demo") == 0
    out = capsys.readouterr().out
    assert "REPO octo-demo/docs" in out and "OUTCOME succeeded: comment 3" in out


def test_logout_revokes_both_tokens_and_forgets_them(platform, token_file):
    platform.on("POST", "/oauth/revoke_token/", (200, {}))
    assert run(platform, token_file, "logout") == 0
    revoked = [r[3] for r in platform.requests if r[1] == "/oauth/revoke_token/"]
    assert any(b"token=refresh-1" in body for body in revoked)
    assert any(b"token=access-1" in body for body in revoked)
    assert not token_file.exists()
