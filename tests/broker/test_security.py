"""The attacks: other apps, other people, every spelling of an unselected repository, and no
provider token anywhere an app or a log reader can see it."""

import logging

import pytest

from tests.broker.conftest import make_world


def err(response):
    return response.json()["error"]["code"]


def test_app_a_token_cannot_reach_app_b_grant(world, client, fake):
    other = make_world(fake, client, user=world.user)  # same person, another app
    token_a = world.cc_token()
    r = world.get("github/repos", token=token_a, HTTP_PLATFORM_GRANT=str(other.grant.pk))
    assert r.status_code == 401 and err(r) == "invalid_token"
    # A person token of app A always acts for app A's grant, whatever the header says.
    r = world.get("token", HTTP_PLATFORM_GRANT=str(other.grant.pk))
    assert r.json()["grant"] == world.grant.pk
    # Job checks on another app's grant are denied and register nothing.
    r = world.post(
        "jobs/check",
        {"job": "j", "grant": other.grant.pk, "scopes": []},
        token=token_a,
    )
    assert r.json()["allowed"] is False
    from broker.models import BackgroundJob

    assert not BackgroundJob.objects.filter(grant=other.grant).exists()


def test_app_a_cannot_read_app_b_pending_action(world, client, fake):
    other = make_world(fake, client, user=world.user)
    r = other.post("github/repos/octo/hello/issues", {"title": "x"})
    action_id = r.json()["pending_action"]["id"]
    r = world.get(f"actions/{action_id}")
    assert r.status_code == 404 and err(r) == "not_found"
    assert other.get(f"actions/{action_id}").status_code == 200


def test_person_x_token_cannot_reach_person_y_connection(world, client, fake):
    y = make_world(fake, client, app=world.app)
    # X's grant is edited (e.g. a bug elsewhere) to point at Y's GitHub connection.
    world.grant.connections = {"github": y.connections["github"].pk}
    world.grant.save()
    r = world.get("github/repos")
    assert r.status_code == 409 and err(r) == "connection_needs_reauthorization"
    assert not fake.seen
    # The reconnect URL never names the other person's connection.
    assert r.json()["error"]["url"] == "http://testserver/connections/"


def test_connection_of_another_service_is_refused(world):
    world.grant.connections = {"github": world.connections["slack"].pk}
    world.grant.save()
    r = world.get("github/repos")
    assert r.status_code == 409 and not world.fake.seen


SPELLINGS = [
    "octo/secret",
    "Octo/Secret",
    "OCTO/SECRET",
    "octo/secret.",
    "octo/secret..",
    "octo/secret.git",
    "octo/hello%2F..%2Fsecret",
    "octo%2Fsecret/x",
    "octo/%73ecret",
    "octo/%2573ecret",
    "octo/secre%74",
    "octo/\uff53\uff45\uff43\uff52\uff45\uff54",
    "octo/secret%00",
    "octo/secret%20",
    "octo/secret%E2%80%8B",
    "octo/hell%D0%BE",
    "other/thing",
    "..%2Fother/thing",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("suffix", ["", "/issues", "/contents/README.md"])
def test_unselected_repository_refused_under_every_spelling(world, spelling, suffix):
    r = world.get(f"github/repos/{spelling}{suffix}")
    assert r.status_code in {403, 404}
    if r.status_code == 403:
        assert err(r) == "resource_not_granted"
    assert not world.fake.requests_to("secret") and not world.fake.requests_to("thing")


@pytest.mark.parametrize("spelling", SPELLINGS[:6])
def test_unselected_repository_write_refused(world, spelling):
    r = world.post(f"github/repos/{spelling}/issues", {"title": "x"})
    assert r.status_code in {403, 404}
    from consent.models import PendingAction

    assert not PendingAction.objects.exists()


def test_double_encoded_slash_in_the_url_path(world):
    # Django decodes %2F in the path once; the broker refuses what is left rather than guess.
    for raw in ["octo%2Fsecret", "octo%252Fsecret"]:
        r = world.client.get(
            f"/api/v1/github/repos/{raw}/issues", HTTP_AUTHORIZATION=f"Bearer {world.token()}"
        )
        assert r.status_code in {403, 404}
    assert not world.fake.requests_to("secret")


def test_no_provider_token_in_responses_logs_or_audit(world, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = []
    world.fake.valid_tokens.discard(world.connections["github"].access_token)  # forces a refresh
    world.fake.fail_next = [(500, {}, b'{"echo": "provider-secret"}')]
    for path in [
        "me",
        "token",
        "github/repos",
        "github/repos/octo/hello",
        "github/repos/octo/hello/contents/a.md",
        "github/repos/octo/nothere",
        "slack/channels",
        "slack/channels/C0001/messages",
        "google/drive/folders/FolderA/files",
        "google/drive/files/f1",
        "google/drive/files/f1/content",
        "google/drive/files/missing",
    ]:
        bodies.append(world.get(path).content.decode())
    bodies.append(world.post("github/repos/octo/hello/issues", {"title": "x"}).content.decode())
    secrets = world.provider_tokens()
    assert secrets and all(s.startswith("provider-") for s in secrets)
    from audit.models import AuditEvent

    audit_rows = [str(e.canonical()) for e in AuditEvent.objects.all()]
    assert len(audit_rows) >= 13
    haystacks = [*bodies, caplog.text, *audit_rows]
    for secret in secrets:
        for text in haystacks:
            assert secret not in text
    for text in haystacks:
        assert "provider-secret" not in text
        assert "provider-refresh" not in text
