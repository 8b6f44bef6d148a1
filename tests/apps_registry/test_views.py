import pytest
from django.contrib.auth.hashers import check_password
from oauth2_provider.models import AccessToken

from apps_registry.models import App, OAuthClient
from audit.actions import Action
from audit.models import AuditEvent
from tests.apps_registry.helpers import GITHUB, PROFILE, register
from tests.factories import GrantFactory, UserFactory

pytestmark = pytest.mark.django_db


def register_form(**overrides):
    data = {
        "name": "Acme Notes",
        "client_type": "confidential",
        "redirect_uris": "https://notes.example.com/cb\nhttp://127.0.0.1:8765/callback",
        "description": "Notes.",
        "scope__identity__profile__read": "required",
        "scope__services__github__repositories__read": "optional",
    }
    data.update(overrides)
    return data


def test_pages_need_sign_in(client):
    response = client.get("/developer/apps/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_register_shows_the_secret_once(client, user):
    client.force_login(user)
    response = client.post("/developer/apps/new/", register_form())
    assert response.status_code == 200
    app = App.objects.get()
    secret = response.context["secret"]
    assert secret and secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert check_password(secret, app.client.client_secret)
    assert {(s.scope, s.required) for s in app.allowed_scopes.all()} == {
        (PROFILE, True),
        (GITHUB, False),
    }
    assert app.publisher.owner == user
    # The detail page never shows it again.
    page = client.get(f"/developer/apps/{app.pk}/").content.decode()
    assert secret not in page and app.client.client_id in page


def test_register_with_a_bad_redirect_uri_changes_nothing(client, user):
    client.force_login(user)
    response = client.post(
        "/developer/apps/new/", register_form(redirect_uris="http://notes.example.com/cb")
    )
    assert response.status_code == 200
    assert "https" in response.content.decode()
    assert not App.objects.exists() and not OAuthClient.objects.exists()


def test_someone_elses_app_is_404(client):
    app, _ = register()
    client.force_login(UserFactory())
    assert client.get(f"/developer/apps/{app.pk}/").status_code == 404
    assert client.post(f"/developer/apps/{app.pk}/rotate-secret/").status_code == 404
    assert (
        client.post(
            f"/developer/apps/{app.pk}/redirect-uris/add/", {"uri": "https://x.example/cb"}
        ).status_code
        == 404
    )


def test_edit_redirect_uris_and_rotate(client):
    app, old_secret = register()
    client.force_login(app.publisher.owner)
    client.post(f"/developer/apps/{app.pk}/redirect-uris/add/", {"uri": "http://[::1]:9000/cb"})
    client.post(
        f"/developer/apps/{app.pk}/redirect-uris/remove/",
        {"uri": "https://app.example.com/callback"},
    )
    # Not confirmed: nothing removed.
    assert "https://app.example.com/callback" in OAuthClient.objects.get().redirect_uris
    client.post(
        f"/developer/apps/{app.pk}/redirect-uris/remove/",
        {"uri": "https://app.example.com/callback", "confirmed": "yes"},
    )
    assert OAuthClient.objects.get().redirect_uris == "http://[::1]:9000/cb"
    response = client.post(
        f"/developer/apps/{app.pk}/redirect-uris/add/", {"uri": "ftp://x"}, follow=True
    )
    assert "https" in response.content.decode()
    assert OAuthClient.objects.get().redirect_uris == "http://[::1]:9000/cb"
    unconfirmed = client.post(f"/developer/apps/{app.pk}/rotate-secret/")
    assert unconfirmed.status_code == 302
    response = client.post(f"/developer/apps/{app.pk}/rotate-secret/", {"confirmed": "yes"})
    new_secret = response.context["secret"]
    assert new_secret != old_secret
    assert check_password(new_secret, OAuthClient.objects.get().client_secret)
    assert client.get(f"/developer/apps/{app.pk}/rotate-secret/").status_code == 405


def test_edit_details(client):
    app, _ = register()
    client.force_login(app.publisher.owner)
    response = client.post(
        f"/developer/apps/{app.pk}/edit/",
        {"name": "Renamed", "scope__identity__profile__read": "required"},
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.name == "Renamed"
    assert list(app.allowed_scopes.values_list("scope", flat=True)) == [PROFILE]


def test_detail_counts_people_but_names_them_only_to_staff(client):
    app, _ = register()
    first, second = UserFactory(), UserFactory()
    GrantFactory(user=first, app=app, scopes=[PROFILE, GITHUB])
    GrantFactory(user=second, app=app, scopes=[PROFILE])
    client.force_login(app.publisher.owner)
    response = client.get(f"/developer/apps/{app.pk}/")
    page = response.content.decode()
    assert response.context["summary"].people == 2
    assert dict(response.context["summary"].scopes_in_use) == {PROFILE: 2, GITHUB: 1}
    assert first.email not in page and second.email not in page
    staff = UserFactory(is_staff=True)
    app.publisher.members.add(staff)
    client.force_login(staff)
    page = client.get(f"/developer/apps/{app.pk}/").content.decode()
    assert first.email in page and second.email in page


def test_admin_suspend_action_asks_for_a_reason(staff_client):
    client = staff_client
    app, _secret = register()
    AccessToken.objects.create(
        application=app.client,
        token="",
        token_checksum="a" * 64,
        scope=PROFILE,
        expires="2100-01-01T00:00Z",
    )
    url = "/admin/apps_registry/app/"
    response = client.post(url, {"action": "suspend", "_selected_action": [app.pk]})
    assert response.status_code == 200 and b"reason" in response.content
    client.post(
        url, {"action": "suspend", "_selected_action": [app.pk], "apply": "1", "reason": "Abuse"}
    )
    app.refresh_from_db()
    assert app.is_suspended and app.suspension_reason == "Abuse"
    assert not AccessToken.objects.exists()
    assert AuditEvent.objects.filter(action=Action.APP_SUSPENDED, app=app).exists()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/apps_registry/app/",
        "/admin/apps_registry/publisher/",
        "/admin/apps_registry/oauthclient/",
        "/admin/oauth2_provider/accesstoken/",
        "/admin/oauth2_provider/refreshtoken/",
        "/admin/oauth2_provider/grant/",
    ],
)
def test_admin_lists_show_no_token_values_or_secrets(staff_client, url):
    from tests.apps_registry.helpers import exchange, get_code

    app, secret = register()
    person = UserFactory()
    from django.test import Client

    code, verifier = get_code(Client(), app, person)
    tokens = exchange(Client(), app, secret, code, verifier).json()
    _unused_code, _ = get_code(Client(), app, person)
    page = staff_client.get(url + "?q=").content.decode()
    assert app.client.client_id in page or "Acme" in page or url.endswith("publisher/")
    for value in (
        tokens["access_token"],
        tokens["refresh_token"],
        secret,
        app.client.client_secret,
    ):
        assert value not in page
    assert _unused_code not in page


def test_demo_seeder_is_idempotent_and_uses_the_env_secret(settings, tmp_path):
    import io

    from apps_registry.demo import seed

    settings.DEMO_AGENT_CLIENT_SECRET = "d" * 40
    out = io.StringIO()
    seed(stdout=out, context={})
    seed(stdout=out, context={})
    app = App.objects.get(client__client_id="demo-agent")
    assert app.verified and app.name == "Acme Notes"
    assert app.client.redirect_uris == "http://127.0.0.1:8765/callback"
    assert check_password("d" * 40, app.client.client_secret)
    assert "d" * 40 not in out.getvalue()
    settings.DEMO_AGENT_CLIENT_SECRET = ""
    App.objects.all().delete()
    OAuthClient.objects.all().delete()
    settings.BASE_DIR = tmp_path
    out = io.StringIO()
    seed(stdout=out, context={})
    app = App.objects.get(client__client_id="demo-agent")
    # Issue 12 item 10: never printed; written to a file only its owner can read.
    path = tmp_path / "var" / "demo-agent.secret"
    written = path.read_text().strip()
    assert check_password(written, app.client.client_secret)
    assert written not in out.getvalue() and str(path) in out.getvalue()
    assert path.stat().st_mode & 0o777 == 0o600
