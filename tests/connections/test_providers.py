import pytest

from connections.providers import (
    UnknownProvider,
    all_providers,
    available_providers,
    client_credentials,
    get_provider,
)


def test_registry_declarations():
    ids = [p.id for p in all_providers()]
    # The modules' declarations in CONNECTION_PROVIDERS order, then the data-file ones (the test
    # suite's PROVIDERS_FILE adds two).
    assert ids == [
        "github", "slack", "google", "sandbox_github", "sandbox_slack", "sandbox_google",
        "acme", "globex",
    ]  # fmt: skip
    github = get_provider("github")
    assert github.service == "github" and not github.is_sandbox
    assert github.api_base_url == "https://api.github.com"
    assert get_provider("sandbox_slack").service == "slack"


def test_real_provider_urls_are_overridable(settings):
    settings.PROVIDER_URLS = {
        "github": {"api": "http://127.0.0.1:9000/api/v3", "token": "http://127.0.0.1:9000/token"}
    }
    github = get_provider("github")
    assert github.api_base_url == "http://127.0.0.1:9000/api/v3"
    assert github.token_url == "http://127.0.0.1:9000/token"
    assert github.authorize_url == "https://github.com/login/oauth/authorize"


def test_sandbox_urls_follow_sandbox_base_url(settings):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:5555"
    spec = get_provider("sandbox_google")
    assert spec.token_url == "http://127.0.0.1:5555/sandbox/oauth/token"
    assert spec.api_base_url == "http://127.0.0.1:5555/sandbox/google"


def test_sandbox_only_when_enabled_and_real_only_with_credentials(settings):
    settings.PROVIDER_CREDENTIALS = {}
    assert {p.id for p in available_providers()} == {
        "sandbox_github",
        "sandbox_slack",
        "sandbox_google",
    }
    settings.SANDBOX_ENABLED = False
    settings.PROVIDER_CREDENTIALS = {"slack": {"client_id": "a", "secret": "b"}}
    assert [p.id for p in available_providers()] == ["slack"]
    assert client_credentials("slack") == ("a", "b")
    with pytest.raises(UnknownProvider):
        get_provider("sandbox_github")
    with pytest.raises(UnknownProvider):
        get_provider("nope")


@pytest.mark.django_db
def test_demo_seeder_is_idempotent():
    from io import StringIO

    from connections.demo import seed
    from connections.sandbox.models import SandboxAccount, SandboxRepo

    seed(stdout=StringIO(), context={})
    counts = (SandboxAccount.objects.count(), SandboxRepo.objects.count())
    seed(stdout=StringIO(), context={})
    assert (SandboxAccount.objects.count(), SandboxRepo.objects.count()) == counts == (6, 40)


@pytest.mark.django_db
def test_connection_of_a_removed_provider_cannot_be_used(settings):
    from connections.exceptions import ConnectionNeedsReauthorization
    from connections.services import get_valid_access_token
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(token_expires_at=None)
    settings.SANDBOX_ENABLED = False
    # Still valid (no expiry): usable without the provider.
    assert get_valid_access_token(connection) == connection.access_token
    with pytest.raises(ConnectionNeedsReauthorization):
        get_valid_access_token(connection, force_refresh=True)
    connection.refresh_from_db()
    assert connection.status == "active"


@pytest.mark.django_db
def test_providers_never_sign_anyone_in(client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert "Sandbox GitHub" not in page.content.decode()
    response = client.post("/accounts/sandbox_github/login/?process=login")
    assert response.status_code == 302 and response["Location"].startswith("/connections/connect/")
    follow = client.get(response["Location"])
    assert follow.status_code == 302 and "/accounts/login/" in follow["Location"]
