"""The person at the browser, for end-to-end tests: a form-posting helper that signs in with a
real session cookie, reads the consent screen the platform renders, ticks what the test says and
submits it, then follows the redirect to the client's loopback address, where
:class:`LoopbackReceiver` (a real HTTP listener on 127.0.0.1) takes the authorization response,
exactly as an MCP client's local callback server does."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urljoin, urlsplit

import requests


@dataclass
class Screen:
    """What the consent screen asks (parsed from its HTML form)."""

    html: str
    hidden: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)  # optional scopes with a checkbox
    ticked: list[str] = field(default_factory=list)
    resources: dict[str, list[str]] = field(default_factory=dict)  # scope -> ids offered
    preselected: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.inputs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
        elif tag == "input" and self.inside:
            self.inputs.append(attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def parse_screen(html: str) -> Screen:
    parser = _FormParser("consent-form")
    parser.feed(html)
    screen = Screen(html=html)
    for attrs in parser.inputs:
        name, value, kind = attrs.get("name", ""), attrs.get("value", ""), attrs.get("type", "")
        checked = "checked" in attrs
        if kind == "hidden":
            screen.hidden.setdefault(name, []).append(value)
        elif name == "accept":
            screen.asked.append(value)
            if checked:
                screen.ticked.append(value)
        elif name.startswith("resource:"):
            scope = name.removeprefix("resource:")
            screen.resources.setdefault(scope, []).append(value)
            if checked:
                screen.preselected.setdefault(scope, []).append(value)
    return screen


@dataclass
class Choice:
    """What the person does on one screen."""

    accept: list[str] = field(default_factory=list)
    resources: dict[str, list[str]] = field(default_factory=dict)
    duration: str = "forever"
    cancel: bool = False


class LoopbackReceiver:
    """The client's redirect URI: ``http://127.0.0.1:<port>/callback``."""

    def __init__(self):
        self.responses: list[dict[str, str]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                receiver.responses.append({k: v[0] for k, v in query.items()})
                receiver.arrived.set()
                body = b"You may close this window."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/callback"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def take(self, timeout: float = 10) -> dict[str, str]:
        if not self.arrived.wait(timeout):
            raise TimeoutError("no authorization response reached the loopback address")
        self.arrived.clear()
        return self.responses.pop(0)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Person:
    """A signed-in browser session on the live server, driven by the test's choices."""

    def __init__(self, base_url: str, session_cookie: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.http.trust_env = False
        # No domain: cookielib will not match a dotless host such as "localhost" otherwise.
        self.http.cookies.set("sessionid", session_cookie)
        self.screens: list[Screen] = []
        self.choices: list = []  # Choice, or a callable(Screen) -> Choice, per screen

    def visit(self, authorization_url: str) -> None:
        """What the SDK's ``redirect_handler`` does: open the URL, answer the screen if one is
        shown, and follow the final redirect to the loopback address."""
        response = self.http.get(authorization_url, allow_redirects=False, timeout=30)
        if response.status_code == 200:
            screen = parse_screen(response.text)
            self.screens.append(screen)
            if not self.choices:
                raise AssertionError("the platform showed a consent screen the test did not expect")
            choice = self.choices.pop(0)
            if callable(choice):
                choice = choice(screen)
            data = {
                "csrfmiddlewaretoken": screen.hidden["csrfmiddlewaretoken"][0],
                "request": screen.hidden["request"][0],
                "action": "cancel" if choice.cancel else "approve",
                "duration": choice.duration,
                "accept": [*screen.hidden.get("accept", []), *choice.accept],
            }
            for name, values in screen.hidden.items():
                if name.startswith("connection:"):
                    data[name] = values
            for scope, ids in choice.resources.items():
                data[f"resource:{scope}"] = ids
            response = self.http.post(
                urljoin(self.base_url, "/oauth/authorize/"),
                data=data,
                headers={"Referer": authorization_url},
                allow_redirects=False,
                timeout=30,
            )
        assert response.status_code == 302, response.text[:500]
        # The browser follows the redirect to the client's loopback listener.
        requests.get(response.headers["Location"], timeout=10)

    def approve_pending(self, action_id: int) -> None:
        """Approve a held write on the real approvals page."""
        page = self.http.get(urljoin(self.base_url, "/consent/approvals/"), timeout=30)
        assert page.status_code == 200
        import re

        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = self.http.post(
            urljoin(self.base_url, f"/consent/approvals/{action_id}/decide/"),
            data={"csrfmiddlewaretoken": token, "decision": "approve"},
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, response.text[:500]


def run_async(func, *args):
    """``anyio.run(func, *args)`` on a thread of its own (:func:`in_a_thread`)."""
    import anyio

    return in_a_thread(anyio.run, func, *args)


def in_a_thread(func, *args):
    """``func(*args)`` on a thread of its own, its database connections closed after: a browser
    test earlier in the session (Playwright's sync API) may leave an event loop running in the
    test thread, where the MCP SDK's path (``async_to_sync``) cannot run."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def run():
        try:
            return func(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
