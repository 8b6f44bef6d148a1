"""The newcomer's journey, end to end, against the production layout.

gunicorn, the Celery worker and Celery beat run as separate processes (the Procfile's lines) with
production settings, against PostgreSQL (or a SQLite file) and Redis. Real headless Chromium plays
the person and the admin; the example agent app (examples/agent_app/) plays the app, as a
subprocess speaking only HTTP. Screenshots: test-artifacts/screenshots/journey-NN-*.png.

Mid-journey the worker is SIGKILLed: while it is dead the person approves the app's write and a
connection's token comes due for refresh; when a new worker starts, both happen. Nothing is lost.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser import shot
from tests.journey.layout import journey_redis_url
from tests.journey.steps import (
    ADMIN,
    ADMIN_TOTP_SECRET,
    PASSWORD,
    REPO,
    SCOPES,
    Agent,
    comments_with,
    connect_sandbox_github,
    kill_worker_approve_and_resume,
    new_page,
    read_line_with,
    shell_value,
    token_expiry,
    totp_code,
)

PERSON = "newcomer@example.com"
TEXT = "Reviewed by the journey agent"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        journey_redis_url() is None,
        reason="the production layout needs Redis (set REDIS_URL): it is Celery's broker between "
        "the separate web, worker and beat processes, and holds beat's single-instance lock",
    ),
]


def test_the_newcomers_journey(layout, browser, tmp_path):
    context, page = new_page(browser)
    url = layout.url

    # 1. Sign up.
    page.goto(f"{url}/accounts/signup/")
    shot(page, "journey-01-sign-up")
    page.fill("input[name=email]", PERSON)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{url}/access/")
    shot(page, "journey-02-profile")

    # 2. Connect the sandbox GitHub (the platform's built-in provider, over real HTTP).
    page.goto(f"{url}/connections/")
    shot(page, "journey-03-connections")
    connect_sandbox_github(page, layout, shots="journey-04")
    shot(page, "journey-06-connected")
    assert "octocat" in page.content()

    # 3. Register the example app on the developer pages.
    page.goto(f"{url}/developer/apps/new/")
    page.fill("input[name=name]", "Journey Agent")
    page.select_option("select[name=client_type]", "confidential")
    page.fill("textarea[name=redirect_uris]", "http://127.0.0.1/callback")
    page.select_option("select[name=scope__services__github__repositories__read]", "required")
    page.select_option("select[name=scope__services__github__repositories__write]", "required")
    shot(page, "journey-07-register-app")
    page.click("main form button[type=submit]")
    page.wait_for_selector("code.secret")
    shot(page, "journey-08-app-registered")
    client_id, client_secret = page.locator("dd code").all_inner_texts()[:2]
    agent = Agent(layout, tmp_path / "agent-token.json", client_id, client_secret)

    # 4. The app sends the person through authorization (PKCE, loopback redirect); the person
    #    upgrades the GitHub connection from the consent screen and selects one repository.
    loopback_allowed = shell_value(
        layout,
        "from apps_registry.models import OAuthClient as C; "
        f"print('http' in C.objects.get(client_id='{client_id}').get_allowed_schemes())",
    )
    if loopback_allowed != "True":
        pytest.xfail(
            "waits on apps_registry: in production OAuthClient.get_allowed_schemes() allows only "
            "https, so the consent screen refuses to redirect to the app's http://127.0.0.1 "
            "loopback URI (RFC 8252 7.3) with DisallowedRedirect; override it to allow http "
            "(registration already restricts http to loopback addresses)"
        )
    login = agent.start("login")
    authorize_url = read_line_with(login, "AUTHORIZE_URL").split(" ", 1)[1]
    assert "code_challenge_method=S256" in authorize_url
    page.goto(authorize_url)
    page.wait_for_selector("#approve")
    shot(page, "journey-09-consent-needs-upgrade")
    # The connection made above holds only GitHub's default scope: the consent screen offers to
    # upgrade it, and the flow comes back here afterwards.
    if page.locator("a.fix").count():
        page.locator("a.fix").first.click()
        shot(page, "journey-09b-upgrade")
        page.click("main button[type=submit]")
        page.wait_for_url(re.compile(r".*/sandbox/.*"))
        page.click("button[name=decision][value=approve]")
        page.wait_for_url(re.compile(r".*/oauth/authorize/.*"))
        page.wait_for_selector("#approve:not([disabled])")
    for scope in SCOPES.split():
        box = page.locator(f"input[name='resource:{scope}'][value='{REPO}']")
        if box.count():
            box.check()
        optional = page.locator(f"input[name=accept][value='{scope}']")
        if optional.count():
            optional.check()  # optional permissions start off: the person opts in
    shot(page, "journey-09c-consent")
    page.click("#approve")
    page.wait_for_url(re.compile(r"http://127\.0\.0\.1:\d+/callback\?code=.*"))
    shot(page, "journey-10-app-callback")
    out, err = login.communicate(timeout=60)
    assert login.returncode == 0, out + err
    assert "Authorized." in out

    # 5. The app lists the selected repositories through the broker: only the selected one.
    repos = agent.run("repos")
    assert repos.returncode == 0, repos.stderr
    assert re.findall(r"^REPO (.+)$", repos.stdout, flags=re.M) == [REPO]

    # 6. The app asks to comment; the write waits for the person.
    comment = agent.start("--wait", "300", "comment", REPO, "1", TEXT)
    action_id = int(read_line_with(comment, "PENDING_ACTION").split()[1])

    # 7. The worker is SIGKILLed; the person approves in the browser while it is dead, and the
    #    connection's token comes due. 8. A new worker performs both.
    old_expiry = kill_worker_approve_and_resume(
        layout, page, email=PERSON, action_id=action_id, text=TEXT, shots="journey-11"
    )
    out, err = comment.communicate(timeout=180)
    assert comment.returncode == 0, out + err
    assert "OUTCOME succeeded" in out  # the app sees the outcome
    layout.wait_until(
        lambda: token_expiry(layout, PERSON) != old_expiry,
        what="the connection's token to be refreshed by the restarted worker",
        timeout=120,
    )
    assert comments_with(layout, TEXT) == 1  # performed exactly once, at the (sandbox) provider

    # 9. The person sees it all on the dashboard.
    page.goto(f"{url}/access/")
    shot(page, "journey-13-dashboard")
    dashboard = page.content()
    assert "Journey Agent" in dashboard
    assert REPO in dashboard

    # 10. The admin sees it in the audit list (staff sign-in needs the second factor).
    admin_context, admin = new_page(browser)
    admin.goto(f"{url}/admin/")
    admin.fill("input[name=login]", ADMIN)
    admin.fill("input[name=password]", PASSWORD)
    admin.click("main button[type=submit]")
    admin.fill("input[name=code]", totp_code(ADMIN_TOTP_SECRET))
    admin.click("main button[type=submit]")
    admin.goto(f"{url}/admin/audit/auditevent/")
    admin.locator("#changelist-filter a", has_text="Journey Agent").click()
    admin.wait_for_selector("#result_list")
    shot(admin, "journey-14-admin-audit")
    audit_list = admin.locator("#result_list").inner_text()
    for label in ("Access granted", "API call", "Action approved", "Action performed"):
        assert label in audit_list, (label, audit_list[:2000])
    events = json.loads(
        shell_value(
            layout,
            "import json; from audit.models import AuditEvent; print(json.dumps(list("
            "AuditEvent.objects.filter(app_label='Journey Agent').values_list('action', flat=True))))",
        )
    )
    for action in (
        "consent.granted",
        "broker.call",
        "pending_action.created",
        "pending_action.approved",
        "pending_action.executed",
    ):
        assert action in events, (action, events)
    admin_context.close()

    # 11. Revoke, with the consequences shown first; the app's next call is refused.
    page.goto(f"{url}/access/")
    page.locator("a", has_text="Revoke app…").first.click()
    shot(page, "journey-15-revoke-confirm")
    page.click("button.destructive:has-text('Revoke access')")
    page.wait_for_load_state()
    shot(page, "journey-16-revoked")
    refused = agent.run("repos")
    # grant_revoked (15), or invalid_token (10) when revocation also removed the tokens.
    assert refused.returncode in (15, 10), refused.stdout + refused.stderr
    assert "ERROR" in refused.stderr
    context.close()
