"""A tiny HTTP peer on 127.0.0.1 that records what it receives and answers what it is told.

Used by the outbound-client tests as the provider, as a foreign host a redirect or a ``Link``
points at, and as a proxy the environment names: each records every request line and its
``Authorization`` header, so a test can show a credential never reached it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    method: str
    target: str  # the request target as sent (a proxy sees an absolute URI)
    authorization: str


@dataclass
class Answer:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b"{}"
    # Send the body this many bytes at a time, pausing ``drip_seconds`` between pieces.
    drip_bytes: int = 0
    drip_seconds: float = 0.0
    chunked: bool = False


@dataclass
class Peer:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    # path -> Answer, or a callable(path) -> Answer; "*" answers everything else.
    routes: dict[str, Answer | Callable[[str], Answer]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    def answer_for(self, target: str) -> Answer:
        path = target.split("?", 1)[0]
        route = self.routes.get(path, self.routes.get("*", Answer()))
        return route(target) if callable(route) else route

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_peer(**routes) -> Peer:
    peer = Peer(routes=dict(routes))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            peer.seen.append(Seen(self.command, self.path, self.headers.get("Authorization", "")))
            answer = peer.answer_for(self.path)
            self.send_response(answer.status)
            for k, v in answer.headers.items():
                self.send_header(k, v)
            if answer.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif "Content-Length" not in answer.headers:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            step = answer.drip_bytes or len(answer.body) or 1
            try:
                for i in range(0, len(answer.body), step):
                    piece = answer.body[i : i + step]
                    if answer.chunked:
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    else:
                        self.wfile.write(piece)
                    self.wfile.flush()
                    if answer.drip_seconds:
                        time.sleep(answer.drip_seconds)
                if answer.chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_DELETE = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    peer.server = server
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return peer
