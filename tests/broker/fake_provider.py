"""A fake provider on 127.0.0.1 that answers like GitHub, Slack and Google Drive, over real HTTP.

It knows which bearer tokens are valid (401 otherwise), records every request it receives (path,
method, Authorization) so tests can assert what the broker sent, and can be told to fail the next
requests with a status (``fail_next``), a ``Retry-After`` or an oversized body.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

REPOS = ["octo/hello", "octo/secret", "other/thing"]
CHANNELS = ["C0001", "C0002", "C0003"]
FILES = {
    "f1": {"id": "f1", "name": "a.txt", "mimeType": "text/plain", "parents": ["FolderA"]},
    "f2": {"id": "f2", "name": "b.txt", "mimeType": "text/plain", "parents": ["FolderB"]},
    "f3": {"id": "f3", "name": "c.html", "mimeType": "text/html", "parents": ["FolderA"]},
}


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    authorization: str
    body: bytes


@dataclass
class FakeProvider:
    url: str = ""
    valid_tokens: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    # Each entry: (status, headers, body bytes) served instead of the normal answer.
    fail_next: list[tuple[int, dict, bytes]] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    created_files: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, fragment: str) -> list[Seen]:
        return [s for s in self.seen if fragment in s.path]


def _handler(fake: FakeProvider):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, status, payload=None, headers=None, raw=None, ctype="application/json"):
            body = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def _handle(self, method):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization", "")
            with fake.lock:
                fake.seen.append(Seen(method, parts.path, parse_qs(parts.query), auth, body))
                failure = fake.fail_next.pop(0) if fake.fail_next else None
            if failure:
                status, headers, raw = failure
                return self._send(status, headers=headers, raw=raw)
            token = auth.removeprefix("Bearer ")
            if token not in fake.valid_tokens:
                if parts.path.startswith("/slack/"):
                    return self._send(200, {"ok": False, "error": "invalid_auth"})
                return self._send(401, {"message": "Bad credentials", "token": token})
            query = parse_qs(parts.query)
            path = parts.path
            # --- GitHub
            if path == "/github/user/repos":
                page = int(query.get("page", ["1"])[0])
                if page == 1:
                    link = f'<{fake.url}/github/user/repos?page=2&per_page=3>; rel="next"'
                    data = [{"full_name": n, "name": n.split("/")[1]} for n in REPOS]
                    data.append({"full_name": "OCTO/Hello", "name": "Hello"})
                    return self._send(200, data, headers={"Link": link})
                return self._send(200, [{"full_name": "octo/hello", "name": "page2"}])
            if path.startswith("/github/repos/"):
                rest = path.removeprefix("/github/repos/").split("/")
                full = f"{unquote(rest[0])}/{unquote(rest[1])}"
                if full not in REPOS:
                    return self._send(404, {"message": "Not Found", "secret": token})
                if len(rest) == 2:
                    return self._send(200, {"full_name": full, "private": True})
                if rest[2] == "contents":
                    file_path = "/".join(unquote(p) for p in rest[3:])
                    return self._send(200, {"type": "file", "path": file_path, "content": "aGk="})
                if rest[2] == "issues" and len(rest) == 3:
                    if method == "POST":
                        issue = json.loads(body)
                        issue.update({"number": len(fake.issues) + 1, "repo": full})
                        fake.issues.append(issue)
                        return self._send(201, issue)
                    return self._send(200, [{"number": 1, "title": "first"}])
                if rest[2] == "issues" and rest[4:] == ["comments"] and method == "POST":
                    comment = {"id": 9, "body": json.loads(body)["body"], "issue": int(rest[3])}
                    return self._send(201, comment)
            # --- Slack
            if path == "/slack/api/conversations.list":
                chans = [{"id": c, "name": c.lower()} for c in CHANNELS]
                return self._send(
                    200,
                    {"ok": True, "channels": chans, "response_metadata": {"next_cursor": "abc"}},
                )
            if path == "/slack/api/conversations.history":
                channel = query.get("channel", [""])[0]
                if channel not in CHANNELS:
                    return self._send(200, {"ok": False, "error": "channel_not_found"})
                return self._send(
                    200,
                    {"ok": True, "messages": [{"text": f"hi in {channel}"}],
                     "response_metadata": {"next_cursor": ""}},
                )  # fmt: skip
            if path == "/slack/api/chat.postMessage":
                msg = json.loads(body)
                fake.messages.append(msg)
                return self._send(200, {"ok": True, "channel": msg["channel"], "ts": "1.2"})
            # --- Drive
            if path == "/google/drive/v3/files":
                q = query.get("q", [""])[0]
                folder = q.split("'")[1] if "'" in q else ""
                files = [f for f in FILES.values() if folder in f["parents"]]
                files.append({"id": "stray", "name": "x", "parents": ["Elsewhere"]})
                return self._send(200, {"files": files, "nextPageToken": "tok2"})
            if path.startswith("/google/drive/v3/files/"):
                file_id = unquote(path.rsplit("/", 1)[1])
                if file_id not in FILES:
                    return self._send(404, {"error": {"message": "File not found: " + token}})
                if query.get("alt") == ["media"]:
                    ctype = FILES[file_id]["mimeType"]
                    return self._send(200, raw=b"<b>content of " + file_id.encode() + b"</b>",
                                      ctype=ctype)  # fmt: skip
                return self._send(200, FILES[file_id])
            if path == "/google/upload/drive/v3/files" and method == "POST":
                created = {"id": f"new{len(fake.created_files)}", "body": body.decode()}
                fake.created_files.append(created)
                return self._send(200, {"id": created["id"], "name": "created"})
            return self._send(404, {"message": "no such fake endpoint"})

    return Handler


def start() -> tuple[FakeProvider, ThreadingHTTPServer]:
    fake = FakeProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
