import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from connections.demo import seed_sandbox
from connections.sandbox.models import SandboxToken, SandboxTokenRequest  # noqa: F401


@pytest.fixture
def sandbox(live_server, settings):
    """The sandbox provider in a live server, seeded, and the platform pointed at it."""
    settings.SANDBOX_BASE_URL = live_server.url
    settings.SANDBOX_ENABLED = True
    seed_sandbox()
    return live_server


def _input_values(html: str) -> dict:
    values = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]*)"', tag)
        if not name or (kind and kind.group(1) == "radio"):
            continue
        values[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return values


class Browser:
    """A person's browser over real HTTP (requests), signed in to the live server."""

    def __init__(self, base_url: str, user):
        self.base = base_url
        self.http = requests.Session()
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = django_settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        self.http.cookies.set(django_settings.SESSION_COOKIE_NAME, session.session_key)

    def url(self, path):
        return path if path.startswith("http") else self.base + path

    def get(self, path, **kw):
        return self.http.get(self.url(path), allow_redirects=False, timeout=30, **kw)

    def submit(self, response, extra=None, drop=()):
        """POST the page's form (its hidden fields and CSRF token) to the page's own URL."""
        data = _input_values(response.text)
        for key in drop:
            data.pop(key, None)
        data.update(extra or {})
        return self.http.post(
            response.url,
            data=data,
            allow_redirects=False,
            timeout=30,
            headers={"Referer": response.url},
        )

    def follow(self, response, limit=10):
        while response.status_code in (301, 302, 303) and limit:
            response = self.get(response.headers["Location"])
            limit -= 1
        return response

    def connect(
        self,
        provider="sandbox_github",
        scopes="repo",
        next_url="",
        account=None,
        decision="approve",
        path=None,
    ):
        """Run the whole connect flow; returns (authorize page, final response)."""
        query = f"?scopes={scopes}" + (f"&next={next_url}" if next_url else "")
        start = self.get(path or f"/connections/connect/{provider}/{query}")
        assert start.status_code == 200, start.text
        to_provider = self.submit(start)
        assert to_provider.status_code == 302, to_provider.text
        authorize = self.get(to_provider.headers["Location"])
        assert authorize.status_code == 200, authorize.text
        extra = {"decision": decision}
        if account:
            extra["account"] = account
        else:
            radio = re.search(r'name="account" value="([^"]*)"[^>]*checked', authorize.text)
            extra["account"] = radio.group(1)
        back = self.submit(authorize, extra)
        assert back.status_code == 302, back.text
        return authorize, to_provider, back, self.follow(back)


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def browser_for(sandbox):
    def make(user):
        return Browser(sandbox.url, user)

    return make


@pytest.fixture
def make_connection(sandbox):
    """A Connection holding real sandbox tokens (issued directly by the sandbox's server code)."""
    from django.utils import timezone

    from connections import vault
    from connections.models import Connection
    from connections.providers import sandbox_client_credentials
    from connections.sandbox.models import SandboxAccount
    from connections.sandbox.oauth import _issue
    from tests.factories import UserFactory

    def make(
        user=None,
        flavour="sandbox_github",
        uid="583231",
        scopes=("repo", "read:user"),
        expired=False,
    ):
        account = SandboxAccount.objects.get(flavour=flavour, uid=uid)
        client_id = sandbox_client_credentials(flavour)[0]
        issued = _issue(
            flavour, account, client_id, list(scopes), f"test-{timezone.now().timestamp()}"
        )
        connection = Connection.objects.create(
            user=user or UserFactory(),
            provider=flavour,
            provider_account_id=uid,
            login=account.login,
            display_name=account.name,
            scopes=list(scopes),
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            token_expires_at=timezone.now()
            + timezone.timedelta(seconds=-10 if expired else issued["expires_in"]),
            token_key_id=vault.current_key_id(),
        )
        return connection

    return make
