"""The connect flow over real HTTP: platform -> sandbox authorize page -> callback -> vault."""

import pytest

from audit.actions import Action
from audit.models import AuditEvent
from connections.models import Connection
from connections.sandbox.models import SandboxAuthorizationCode, SandboxTokenRequest
from tests.connections.conftest import query_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_connect_stores_encrypted_tokens_and_granted_scopes(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    authorize, to_provider, back, final = browser.connect(
        scopes="repo", next_url="/connections/", account="583231"
    )
    params = query_of(to_provider.headers["Location"])
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert params["state"]
    assert set(params["scope"].split()) == {"read:user", "repo"}
    assert "Sandbox" in authorize.text
    assert query_of(back.headers["Location"])["state"] == params["state"]
    assert final.status_code == 200 and final.url.endswith("/connections/")
    connection = Connection.objects.get(user=user)
    assert connection.provider == "sandbox_github"
    assert connection.login == "octocat" and connection.provider_account_id == "583231"
    assert set(connection.scopes) == {"read:user", "repo"}
    assert connection.access_token.startswith("gho_sbx_")
    assert connection.refresh_token.startswith("ghr_sbx_")
    assert connection.token_expires_at is not None and connection.has_token
    assert connection.social_account is not None
    assert (
        AuditEvent.objects.filter(action=Action.CONNECTION_CREATED, subject_user=user).count() == 1
    )
    # allauth keeps no token.
    from allauth.socialaccount.models import SocialToken

    assert SocialToken.objects.count() == 0
    # The page lists it.
    assert "octocat" in browser.get("/connections/").text


def test_two_accounts_of_one_provider(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    browser.connect(account="583231")
    browser.connect(account="480938")
    assert sorted(Connection.objects.filter(user=user).values_list("login", flat=True)) == [
        "hubot",
        "octocat",
    ]


@pytest.mark.parametrize(
    "provider,scopes,login",
    [
        ("sandbox_slack", "channels:read", "alice"),
        ("sandbox_google", "https://www.googleapis.com/auth/drive.readonly", "ada@sandbox.example"),
    ],
)
def test_connect_slack_and_google_shapes(browser_for, provider, scopes, login):
    user = UserFactory()
    _, to_provider, _, _ = browser_for(user).connect(provider=provider, scopes=scopes)
    params = query_of(to_provider.headers["Location"])
    # Slack asks for user-token scopes in user_scope; Google asks for offline access.
    assert ("user_scope" in params) == (provider == "sandbox_slack")
    assert (params.get("access_type") == "offline") == (provider == "sandbox_google")
    connection = Connection.objects.get(user=user)
    assert connection.login == login
    assert scopes in connection.scopes
    assert connection.refresh_token


def test_denied_consent_shows_clear_page_and_changes_nothing(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    browser.connect()
    before = Connection.objects.get(user=user)
    _, _, back, final = browser.connect(decision="deny")
    assert query_of(back.headers["Location"])["error"] == "access_denied"
    assert final.status_code == 400
    assert "You declined" in final.text
    after = Connection.objects.get(user=user)
    assert after.access_token == before.access_token and after.status == "active"
    assert AuditEvent.objects.filter(action=Action.CONNECTION_FAILED).count() == 1


def test_mismatched_state_is_refused(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    start = browser.get("/connections/connect/sandbox_github/?scopes=repo")
    to_provider = browser.submit(start)
    authorize = browser.get(to_provider.headers["Location"])
    back = browser.submit(
        authorize, {"decision": "approve", "account": "583231", "state": "forged"}
    )
    final = browser.get(back.headers["Location"])
    assert final.status_code == 400
    assert "state" in final.text
    assert not Connection.objects.exists()


def test_callback_from_another_browser_session_is_refused(browser_for):
    victim, attacker = UserFactory(), UserFactory()
    attacker_browser = browser_for(attacker)
    start = attacker_browser.get("/connections/connect/sandbox_github/?scopes=repo")
    authorize = attacker_browser.get(attacker_browser.submit(start).headers["Location"])
    back = attacker_browser.submit(authorize, {"decision": "approve", "account": "583231"})
    # The attacker hands the callback URL (code + state) to the victim's browser.
    final = browser_for(victim).get(back.headers["Location"])
    assert final.status_code == 400
    assert not Connection.objects.exists()


def test_pkce_is_enforced_by_the_sandbox(browser_for, sandbox):
    user = UserFactory()
    browser = browser_for(user)
    start = browser.get("/connections/connect/sandbox_github/?scopes=repo")
    location = browser.submit(start).headers["Location"]
    stripped = location.replace("code_challenge_method=S256", "code_challenge_method=plain")
    refused = browser.get(stripped)
    assert refused.status_code == 302
    assert query_of(refused.headers["Location"])["error"] == "invalid_request"


def test_malformed_token_response_changes_nothing(browser_for, monkeypatch):
    import connections.tokens as tokens

    user = UserFactory()
    browser = browser_for(user)
    browser.connect()
    before = Connection.objects.get(user=user).access_token
    original = tokens.parse_token_response
    monkeypatch.setattr(
        tokens,
        "parse_token_response",
        lambda spec, status, body: original(spec, status, {"token_type": "bearer"}),
    )
    _, _, _, final = browser.connect()
    assert final.status_code == 400
    assert "without an access token" in final.text
    assert Connection.objects.get(user=user).access_token == before


def test_missing_refresh_token_where_required_is_refused(browser_for, monkeypatch):
    import connections.tokens as tokens

    user = UserFactory()
    original = tokens.parse_token_response

    def no_refresh(spec, status, body):
        body = dict(body)
        body.pop("refresh_token", None)
        return original(spec, status, body)

    monkeypatch.setattr(tokens, "parse_token_response", no_refresh)
    _, _, _, final = browser_for(user).connect(
        provider="sandbox_google", scopes="https://www.googleapis.com/auth/drive.readonly"
    )
    assert final.status_code == 400
    assert "refresh token" in final.text
    assert not Connection.objects.exists()


def test_authorization_code_is_single_use(browser_for, sandbox):
    import requests

    from connections.providers import get_provider, sandbox_client_credentials

    user = UserFactory()
    browser = browser_for(user)
    start = browser.get("/connections/connect/sandbox_github/?scopes=repo")
    authorize = browser.get(browser.submit(start).headers["Location"])
    back = browser.submit(authorize, {"decision": "approve", "account": "583231"})
    code = query_of(back.headers["Location"])["code"]
    browser.get(back.headers["Location"])  # the platform redeems it
    assert SandboxAuthorizationCode.objects.get().used_at is not None
    client_id, secret = sandbox_client_credentials("sandbox_github")
    replay = requests.post(
        get_provider("sandbox_github").token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uri": "x",
            "code_verifier": "x",
        },
        timeout=10,
    ).json()
    assert replay["error"] == "bad_verification_code"
    assert SandboxTokenRequest.objects.filter(outcome="invalid_grant").count() == 1


def test_next_must_be_same_site(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    for bad in ["https://evil.example/", "//evil.example/x", "/\\evil.example"]:
        response = browser.get("/connections/connect/sandbox_github/", params={"next": bad})
        assert response.status_code == 400
    assert browser.get("/connections/connect/nope/").status_code == 404
    assert (
        browser.get(
            "/connections/connect/sandbox_github/", params={"scopes": "repo,<script>"}
        ).status_code
        == 400
    )


def test_anonymous_is_sent_to_sign_in(sandbox):
    import requests

    response = requests.get(
        sandbox.url + "/connections/connect/sandbox_github/", allow_redirects=False, timeout=10
    )
    assert response.status_code == 302 and "/accounts/login/" in response.headers["Location"]


def test_unknown_scope_is_refused_by_the_provider(browser_for):
    user = UserFactory()
    browser = browser_for(user)
    start = browser.get("/connections/connect/sandbox_github/?scopes=admin:everything")
    refused = browser.get(browser.submit(start).headers["Location"])
    assert refused.status_code == 302
    assert query_of(refused.headers["Location"])["error"] == "invalid_scope"
    final = browser.get(refused.headers["Location"])
    assert final.status_code == 400 and "invalid_scope" in final.text
    assert not Connection.objects.exists()


def test_account_connected_by_another_person_is_refused(browser_for):
    first, second = UserFactory(), UserFactory()
    browser_for(first).connect(account="583231")
    _, _, _, final = browser_for(second).connect(account="583231")
    assert final.status_code == 400 and "another person" in final.text
    assert not Connection.objects.filter(user=second).exists()
    assert Connection.objects.get(user=first).status == "active"
