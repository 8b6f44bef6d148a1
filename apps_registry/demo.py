"""Demo data: a publisher and the verified demo app "Acme Notes", client id ``demo-agent``.

The client secret comes from ``DEMO_AGENT_CLIENT_SECRET`` when set (so the example app can be
configured ahead of time); otherwise it is generated when the app is created and written to
``var/demo-agent.secret`` (readable by its owner only). It is never printed: terminal output
ends up in CI logs and scroll-back.
"""

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import check_password

from apps_registry.models import App, OAuthClient
from apps_registry.services import app_register, app_verify
from identity.models import User

DEMO_CLIENT_ID = "demo-agent"
DEMO_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEMO_PUBLISHER_EMAIL = "developer@example.com"
DEMO_SCOPES = {
    "identity.profile.read": True,
    "services.github.repositories.read": True,
    "services.github.repositories.write": False,
    "agents.jobs.background": False,
}


def secret_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-agent.secret"


def write_secret_file(secret: str) -> Path:
    path = secret_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return path


def seed(*, stdout, context) -> dict:
    developer, created = User.objects.get_or_create(
        email=DEMO_PUBLISHER_EMAIL, defaults={"name": "Acme Labs developer"}
    )
    if created:
        developer.set_unusable_password()
        developer.save(update_fields=["password"])
    wanted = settings.DEMO_AGENT_CLIENT_SECRET
    app = App.objects.filter(client__client_id=DEMO_CLIENT_ID).select_related("client").first()
    if app is None:
        registration = app_register(
            owner=developer,
            publisher_name="Acme Labs",
            name="Acme Notes",
            client_type=OAuthClient.CLIENT_CONFIDENTIAL,
            redirect_uris=[DEMO_REDIRECT_URI],
            scopes=DEMO_SCOPES,
            allow_client_credentials=True,
            client_id=DEMO_CLIENT_ID,
            client_secret=wanted or None,
            description="Keeps notes on your GitHub repositories: the platform's demo agent.",
            homepage_url="https://notes.example.com/",
            privacy_policy_url="https://notes.example.com/privacy",
            terms_url="https://notes.example.com/terms",
            contact_email="support@notes.example.com",
            may_request_background=True,
        )
        app = registration.app
        if wanted:
            stdout.write(
                f"Demo app: Acme Notes, client id {DEMO_CLIENT_ID} (secret from DEMO_AGENT_CLIENT_SECRET)"
            )
        else:
            path = write_secret_file(registration.client_secret)
            stdout.write(
                f"Demo app: Acme Notes, client id {DEMO_CLIENT_ID}; its client secret is in {path} "
                "(set DEMO_AGENT_CLIENT_SECRET to choose it)"
            )
    else:
        if wanted and not check_password(wanted, app.client.client_secret):
            app.client.client_secret = wanted  # hashed on save
            app.client.save(update_fields=["client_secret", "updated"])
            stdout.write(f"Demo app: secret of {DEMO_CLIENT_ID} set from DEMO_AGENT_CLIENT_SECRET")
        else:
            stdout.write(f"Demo app: Acme Notes ({DEMO_CLIENT_ID}) already exists")
    app_verify(app=app, actor=None, verified=True)
    return {"demo_app": app}
