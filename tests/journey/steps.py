"""Steps the journey tests share: the example app as a subprocess, browser steps, and the
worker-kill-and-resume sequence."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from tests.browser import shot
from tests.journey.layout import ROOT, Layout, manage

AGENT = ROOT / "examples" / "agent_app" / "agent_app.py"
PASSWORD = "a long journey passphrase 42"
ADMIN = "journey-admin@example.com"
ADMIN_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
REPO = "octo-demo/docs"
SCOPES = "services.github.repositories.read services.github.repositories.write"


class Agent:
    """The example app as a subprocess, configured only through its documented environment."""

    def __init__(self, layout: Layout, token_file, client_id: str = "", client_secret: str = ""):
        self.env = {
            "PATH": layout.env["PATH"],
            "PLATFORM_URL": layout.url,
            "AGENT_CLIENT_ID": client_id,
            "AGENT_CLIENT_SECRET": client_secret,
            "AGENT_SCOPES": SCOPES,
            "AGENT_TOKEN_FILE": str(token_file),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(AGENT), "--no-browser", "--poll", "2", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess:
        process = self.start(*args)
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def read_line_with(process: subprocess.Popen, marker: str) -> str:
    lines = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return line.strip()
    raise AssertionError(
        f"the app never printed {marker!r}: {''.join(lines)} {process.stderr.read()}"
    )


def totp_code(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import hotp_value

    return f"{hotp_value(secret, int(time.time()) // 30):06d}"


def shell_value(layout: Layout, code: str) -> str:
    """Run Python in the layout's environment (manage.py shell); the last line it printed."""
    return manage(layout.env, "shell", "-c", code).stdout.strip().splitlines()[-1]


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def connect_sandbox_github(
    page, layout: Layout, *, shots: str | None = None, scopes: str = ""
) -> None:
    """The signed-in person connects the sandbox GitHub as octocat, over real HTTP."""
    query = f"?scopes={scopes}" if scopes else ""
    page.goto(f"{layout.url}/connections/connect/sandbox_github/{query}")
    if shots:
        shot(page, f"{shots}-connect")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/sandbox/.*"))
    page.check("input[name=account][value='583231']")  # octocat
    if shots:
        shot(page, f"{shots}-sandbox-authorize")
    page.click("button[name=decision][value=approve]")
    page.wait_for_url(re.compile(r".*/connections/.*"))


def expire_soon(layout: Layout, email: str) -> str:
    """Bring the person's sandbox GitHub token within the refresh margin; its expiry before."""
    return shell_value(
        layout,
        "from datetime import timedelta; from django.utils import timezone; "
        "from connections.models import Connection; c = Connection.objects.get(user__email="
        f"'{email}', provider='sandbox_github'); c.token_expires_at = timezone.now() + "
        "timedelta(seconds=90); c.save(update_fields=['token_expires_at']); "
        "print(c.token_expires_at.isoformat())",
    )


def token_expiry(layout: Layout, email: str) -> str:
    return shell_value(
        layout,
        "from connections.models import Connection; print(Connection.objects.get(user__email="
        f"'{email}', provider='sandbox_github').token_expires_at.isoformat())",
    )


def action_status(layout: Layout, action_id: int) -> str:
    return shell_value(
        layout,
        f"from consent.models import PendingAction; print(PendingAction.objects.get(pk={action_id}).status)",
    )


def comments_with(layout: Layout, body: str) -> int:
    return int(
        shell_value(
            layout,
            "from connections.sandbox.models import SandboxIssueComment as C; "
            f"print(C.objects.filter(body={body!r}).count())",
        )
    )


def kill_worker_approve_and_resume(
    layout: Layout, page, *, email: str, action_id: int, text: str, shots: str
):
    """SIGKILL the worker; while it is dead the person approves the write and the connection's
    token comes due (beat queues a refresh sweep); then a new worker starts. Returns the token's
    expiry before, for the caller to see it move."""
    layout.processes["worker"].kill()
    old_expiry = expire_soon(layout, email)
    page.goto(f"{layout.url}/consent/approvals/")
    shot(page, f"{shots}-approvals")
    assert text in page.content()
    page.locator(f"form[action*='/approvals/{action_id}/'] button[value=approve]").click()
    page.wait_for_load_state()
    shot(page, f"{shots}-approved")
    assert action_status(layout, action_id) == "approved"  # decided; nobody performed it yet
    beat = layout.processes["beat"]
    sweeps = beat.log().count("connections-refresh-sweep")
    layout.wait_until(
        lambda: beat.log().count("connections-refresh-sweep") > sweeps,
        what="beat to queue a refresh sweep while the worker is down",
        timeout=90,
    )
    layout.start("worker")
    return old_expiry
