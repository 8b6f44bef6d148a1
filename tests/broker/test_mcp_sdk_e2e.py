"""End to end: the unmodified ``mcp`` SDK client (its ``OAuthClientProvider``) against a live
platform, with a person answering the consent screens through a form-posting browser helper and
the client's loopback redirect received by a real listener on 127.0.0.1.

Two journeys, one per way of registering: dynamic client registration (RFC 7591) and a client
ID metadata document served over https. Between them: discovery, consent with narrowing,
``tools/list`` showing only granted tools, a read tool answering from a fake provider over HTTP,
an unselected repository refused, a write held and performed after approval, a missing scope
stepped up with a delta consent, revocation failing the next call, and a refresh that works only
with background access.
"""

from __future__ import annotations

import time

import anyio
import httpx2
import pytest
from django.test import Client as DjangoClient
from mcp.client.auth.oauth2 import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from oauth2_provider.models import get_access_token_model

from apps_registry.models import App, OAuthClient
from consent import selectors
from consent.models import Grant
from tests.apps_registry.https_documents import DocumentServer
from tests.broker.conftest import GH_READ, GH_WRITE, make_world
from tests.broker.person import Choice, LoopbackReceiver, Person, run_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

PROFILE = "identity.profile.read"
BACKGROUND = "agents.jobs.background"
REPOS = [{"id": "octo/hello", "label": "octo/hello"}, {"id": "octo/secret", "label": "octo/secret"}]


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


@pytest.fixture
def journey(live_server, fake, monkeypatch):
    """A person with GitHub, Slack and Drive connected (fake provider over HTTP), signed in."""
    world = make_world(fake, DjangoClient(), app=_unused_app(), scopes=[])
    Grant.objects.filter(pk=world.grant.pk).delete()
    monkeypatch.setattr(
        selectors,
        "list_resources",
        lambda connection, kind: selectors.ResourceListing(
            tuple(REPOS if kind == "repository" else [{"id": "C0001", "label": "#general"}])
            if kind in ("repository", "channel")
            else ({"id": "FolderA", "label": "Folder A"},)
        ),
    )
    browser = DjangoClient()
    browser.force_login(world.user)
    person = Person(live_server.url, browser.cookies["sessionid"].value)
    receiver = LoopbackReceiver()
    yield world, person, receiver
    receiver.close()


def _unused_app():
    from tests.factories import AppFactory

    return AppFactory(scopes=[GH_READ])


def provider_for(url, person, receiver, storage, **kwargs):
    async def redirect_handler(authorization_url: str) -> None:
        await anyio.to_thread.run_sync(person.visit, authorization_url)

    async def callback_handler() -> AuthorizationCodeResult:
        answer = await anyio.to_thread.run_sync(receiver.take)
        if "error" in answer:
            raise RuntimeError(f"authorization refused: {answer['error']}")
        return AuthorizationCodeResult(
            code=answer["code"], state=answer["state"], iss=answer["iss"]
        )

    return OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="SDK test agent",
            redirect_uris=[receiver.redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        **kwargs,
    )


async def connect(url, auth, steps, elicitation=None):
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(
            streamable_http_client(url, http_client=http), elicitation_callback=elicitation
        ) as session,
    ):
        return [await step(session) for step in steps]


def run(url, auth, *steps, elicitation=None):
    return run_async(connect, url, auth, list(steps), elicitation)


def read_only_github(screen):
    """First consent: the client asks for every read scope and offline_access; the person keeps
    GitHub reading, narrowed to one repository, and nothing else."""
    assert set(screen.asked) >= {PROFILE, GH_READ, BACKGROUND}
    assert GH_READ in screen.resources
    return Choice(accept=[GH_READ], resources={GH_READ: ["octo/hello"]})


def test_dcr_client_journey(journey, live_server, fake):
    world, person, receiver = journey
    url = live_server.url + "/mcp"
    storage = MemoryStorage()
    auth = provider_for(url, person, receiver, storage)

    # 1. Discovery, dynamic registration, consent with narrowing, tools/list.
    person.choices = [read_only_github]
    (tools,) = run(url, auth, lambda s: s.list_tools())
    client = OAuthClient.objects.get(registration_source=OAuthClient.RegistrationSource.DCR)
    app = App.objects.get(client=client)
    assert app.self_registered and not app.verified and app.name == "SDK test agent"
    assert "Unverified, registered by the client itself" in person.screens[0].html
    assert {t.name for t in tools.tools} == {
        "github.repos.list",
        "github.repos.get",
        "github.contents.get",
        "github.issues.list",
        "pending_action",
    }
    grant = Grant.objects.get(user=world.user, app=app)
    assert grant.scopes == [GH_READ]
    token = get_access_token_model().objects.get(application=client, user=world.user)
    assert token.resource == [url], "the token is bound to /mcp (RFC 8707)"
    assert storage.tokens.refresh_token is None, "no background access: no refresh token"

    # 2. A read tool answers from the fake provider; an unselected repository is refused.
    fake.seen.clear()
    read, refused = run(
        url,
        auth,
        lambda s: s.call_tool("github.repos.get", {"owner": "octo", "repo": "hello"}),
        lambda s: s.call_tool("github.repos.get", {"owner": "octo", "repo": "secret"}),
    )
    assert read.structured_content["data"] == {"full_name": "octo/hello", "private": True}
    assert [s.path for s in fake.seen] == ["/github/repos/octo/hello"]
    assert refused.is_error
    assert refused.structured_content["error"]["code"] == "resource_not_granted"

    # 3. A write needs a scope the grant lacks: 403 step-up, a consent screen with only the delta,
    #    then the retried call is held for the person's approval.
    def delta(screen):
        assert GH_READ not in screen.asked, "already granted: not asked again"
        assert GH_WRITE in screen.asked
        return Choice(accept=[GH_WRITE], resources={GH_WRITE: ["octo/hello"]})

    shown = []

    async def elicitation(context, params):
        # A client that can show URLs is asked to show the person the approvals page.
        from mcp_types import ElicitResult

        shown.append(params)
        return ElicitResult(action="accept")

    person.choices = [delta]
    (held,) = run(
        url,
        auth,
        lambda s: s.call_tool(
            "github.issues.create", {"owner": "octo", "repo": "hello", "title": "Hello from MCP"}
        ),
        elicitation=elicitation,
    )
    assert [(p.mode, p.url) for p in shown] == [("url", live_server.url + "/consent/approvals/")]
    assert "github.issues.create" in shown[0].message
    from consent.models import PendingAction

    assert PendingAction.objects.count() == 1, "the retry after the elicitation holds nothing more"
    assert len(person.screens) == 2
    grant.refresh_from_db()
    assert set(grant.scopes) == {GH_READ, GH_WRITE}
    action = held.structured_content["pending_action"]
    assert action["status"] == "pending"
    assert action["approval_url"] == live_server.url + "/consent/approvals/"
    assert not fake.issues

    # 4. The person approves on the approvals page; the platform performs it; the agent polls.
    from config.celery import app as celery

    eager = celery.conf.task_always_eager
    celery.conf.task_always_eager = True
    try:
        person.approve_pending(action["id"])
    finally:
        celery.conf.task_always_eager = eager
    assert [i["title"] for i in fake.issues] == ["Hello from MCP"]
    (polled,) = run(url, auth, lambda s: s.call_tool("pending_action", {"id": action["id"]}))
    assert polled.structured_content["pending_action"]["status"] == "succeeded"

    # 5. Without background access there is no refresh: once the access token ends, the client
    #    has to go back to the person (who, this time, says no).
    auth.context.token_expiry_time = time.time() - 1
    person.choices = [Choice(cancel=True)]
    fake.seen.clear()
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own flow errors
        run(
            url, auth, lambda s: s.call_tool("github.repos.get", {"owner": "octo", "repo": "hello"})
        )
    assert len(person.screens) == 3, "asked the person again: nothing to refresh with"
    assert not fake.seen


def test_cimd_client_journey_with_background_refresh_and_revocation(
    journey, live_server, fake, settings, tmp_path
):
    world, person, receiver = journey
    documents = DocumentServer(tmp_path)
    settings.OAUTH_CIMD_ALLOW_LOOPBACK = True
    settings.OAUTH_CIMD_CA_BUNDLE = documents.cert_path
    try:
        client_id = documents.client_document(
            "/agent/client.json", redirect_uris=[receiver.redirect_uri], name="CIMD test agent"
        )
        url = live_server.url + "/mcp"
        storage = MemoryStorage()
        auth = provider_for(url, person, receiver, storage, client_metadata_url=client_id)

        # 1. Registration by metadata document; this time the person allows background access.
        def with_background(screen):
            choice = read_only_github(screen)
            choice.accept.append(BACKGROUND)
            return choice

        person.choices = [with_background]
        (tools,) = run(url, auth, lambda s: s.list_tools())
        assert documents.hits == ["/agent/client.json"]
        client = OAuthClient.objects.get(client_id=client_id)
        assert client.registration_source == OAuthClient.RegistrationSource.CIMD
        assert App.objects.get(client=client).publisher.name == "127.0.0.1"
        assert "github.issues.create" not in {t.name for t in tools.tools}
        assert storage.tokens.refresh_token, "background access: a refresh token"
        assert set(storage.tokens.scope.split()) == {GH_READ, BACKGROUND}

        # 2. The access token ends; the client refreshes (no person involved) and goes on.
        first = storage.tokens.access_token
        auth.context.token_expiry_time = time.time() - 1
        (read,) = run(
            url, auth, lambda s: s.call_tool("github.repos.get", {"owner": "octo", "repo": "hello"})
        )
        assert not read.is_error
        assert storage.tokens.access_token != first
        assert len(person.screens) == 1, "a refresh, not a new consent"
        refreshed = get_access_token_model().objects.get(application=client)
        assert refreshed.source_refresh_token_id is not None
        assert refreshed.resource == [url], "the refreshed token keeps its audience"

        # 3. The person revokes the app: the very next call fails.
        from consent.services import grant_revoke

        grant_revoke(
            grant=Grant.objects.get(user=world.user, app=client.app), actor=world.user, reason="e2e"
        )
        person.choices = [Choice(cancel=True)]
        fake.seen.clear()
        with pytest.raises(Exception):  # noqa: B017
            run(
                url,
                auth,
                lambda s: s.call_tool("github.repos.get", {"owner": "octo", "repo": "hello"}),
            )
        assert not fake.seen, "nothing reached the provider"
    finally:
        documents.close()
