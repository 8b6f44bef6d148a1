"""The example agent's MCP mode against a live platform: it registers itself, the person
approves on the consent screen, it lists its tools and calls one, with its tokens kept on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client as DjangoClient

from consent import selectors
from consent.models import Grant
from tests.broker.conftest import _fake_server, fake, make_world  # noqa: F401 - fixtures
from tests.broker.person import Choice, Person
from tests.docs.test_example_app import load_app


def in_thread(func, *args):
    """The example calls anyio.run: on a thread of its own, in case a browser test earlier in the
    session left an event loop running in the test thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func, *args).result()


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]
GH_READ = "services.github.repositories.read"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent_app"


def test_mcp_mode_lists_granted_tools_and_calls_one(
    live_server,
    fake,  # noqa: F811 - the fixture imported above
    monkeypatch,
    tmp_path,
    capsys,
):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import mcp_mode

    world = make_world(fake, DjangoClient(), scopes=[])
    Grant.objects.all().delete()
    monkeypatch.setattr(
        selectors,
        "list_resources",
        lambda connection, kind: selectors.ResourceListing(
            ({"id": "octo/hello", "label": "octo/hello"},)
        ),
    )
    browser = DjangoClient()
    browser.force_login(world.user)
    person = Person(live_server.url, browser.cookies["sessionid"].value)
    person.choices = [Choice(accept=[GH_READ], resources={GH_READ: ["octo/hello"]})]
    monkeypatch.setattr(mcp_mode, "open_in_browser", person.visit)
    agent_app = load_app()
    base = ["--platform", live_server.url, "--token-file", str(tmp_path / "token.json")]

    assert in_thread(agent_app.main, [*base, "mcp", "tools"]) == 0
    out = capsys.readouterr().out
    assert "AUTHORIZE_URL " in out
    assert "TOOL github.repos.get (read)" in out
    assert "github.issues.create" not in out
    stored = json.loads((tmp_path / "token.json.mcp.json").read_text())
    assert stored["client"]["client_id"] and stored["tokens"]["access_token"]

    arguments = json.dumps({"owner": "octo", "repo": "hello"})
    assert in_thread(agent_app.main, [*base, "mcp", "call", "github.repos.get", arguments]) == 0
    out = capsys.readouterr().out
    assert "AUTHORIZE_URL" not in out, "the stored token is reused"
    assert json.loads(out)["data"]["full_name"] == "octo/hello"
