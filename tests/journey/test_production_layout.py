"""The production layout, for real: gunicorn with gunicorn.conf.py, production settings, HTTPS
behind a proxy, hashed static files through whitenoise, JSON logs with the request id, graceful
shutdown, ``check --deploy``, and the single-beat lock."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.journey.layout import (
    PYTHON,
    ROOT,
    Layout,
    free_port,
    manage,
    procfile,
    production_environment,
)

OPERATOR_GUIDE = ROOT / "docs" / "guide-operators.md"


def explained_deploy_warnings() -> set[str]:
    """The check ids the operator guide accepts with a reason, from its ``check --deploy``
    section: the items of the list after "Warnings accepted, with the reason:"."""
    text = OPERATOR_GUIDE.read_text()
    section = text.split("### `manage.py check --deploy`", 1)[1].split("\n## ", 1)[0]
    accepted = section.split("Warnings accepted, with the reason:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z0-9_]+\.W\d{3})`", accepted))


def test_procfile_runs_web_worker_and_beat_as_separate_processes():
    processes = procfile()
    assert list(processes) == ["web", "worker", "beat"]
    assert processes["web"].startswith("gunicorn -c gunicorn.conf.py config.wsgi")
    # The worker must not embed beat: beat runs once, in its own process, behind its lock.
    assert "--beat" not in processes["worker"] and " -B" not in processes["worker"]
    assert processes["beat"].startswith("python scripts/beat.py")


def test_check_deploy_reports_only_warnings_the_operator_guide_explains(tmp_path):
    env = production_environment(
        database_url=f"sqlite:///{tmp_path / 'check.sqlite3'}", redis_url=None, port=free_port()
    )
    env["HTTPS"] = "1"
    result = subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    reported = set(re.findall(r"\(([a-z0-9_]+\.[WE]\d{3})\)", output))
    assert not {r for r in reported if ".E" in r}, output
    # Django's own security checks (security.W0xx) must all pass: nothing to explain there.
    assert not {r for r in reported if r.startswith("security.")}, output
    explained = explained_deploy_warnings()
    assert reported - explained == set(), "explain these in docs/guide-operators.md or fix them"
    assert explained - reported == set(), "the operator guide explains warnings that are gone"


def test_check_deploy_without_https_names_the_missing_protections(tmp_path):
    # The attack side: HTTPS off in production must not pass silently.
    env = production_environment(
        database_url=f"sqlite:///{tmp_path / 'check.sqlite3'}", redis_url=None, port=free_port()
    )
    result = subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in output


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """gunicorn (the Procfile's web line) with production settings and HTTPS behind a proxy."""
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    env = production_environment(
        database_url=f"sqlite:///{tmp / 'web.sqlite3'}",
        redis_url=None,
        port=port,
        HTTPS="1",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
    )
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input", "--verbosity", "0")
    manage(
        env,
        "shell",
        "-c",
        "from tests.factories import UserFactory; UserFactory(email='ops@example.com')",
    )
    layout = Layout(env=env, port=port, logs=tmp)
    layout.start("web")
    layout.wait_for_web()
    yield layout
    layout.stop_all()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, *, headers=None, data: bytes | None = None):
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        return opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


BEHIND_TLS = {"X-Forwarded-Proto": "https"}


def test_plain_http_is_redirected_to_https_except_health(web):
    response = fetch(f"{web.url}/accounts/login/")
    assert response.status == 301
    assert response.headers["Location"].startswith("https://127.0.0.1")
    assert fetch(f"{web.url}/healthz").status == 200


def test_pages_carry_the_security_headers(web):
    response = fetch(f"{web.url}/accounts/login/", headers=BEHIND_TLS)
    assert response.status == 200
    headers = response.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert (
        "script-src 'self'" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    csrf_cookie = next(c for c in headers.get_all("Set-Cookie") if c.startswith("csrftoken="))
    assert "Secure" in csrf_cookie


def test_session_cookie_is_secure_httponly_and_in_the_database(web):
    login = fetch(f"{web.url}/accounts/login/", headers=BEHIND_TLS)
    csrf = re.search(r"csrftoken=([^;]+)", login.headers["Set-Cookie"]).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.read().decode()).group(1)
    body = (
        f"login=ops%40example.com&password=correct+horse+battery+staple&csrfmiddlewaretoken={token}"
    )
    response = fetch(
        f"{web.url}/accounts/login/",
        headers={
            **BEHIND_TLS,
            "Cookie": f"csrftoken={csrf}",
            "Referer": f"https://127.0.0.1:{web.port}/accounts/login/",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Request-ID": "journey-sign-in-0001",
        },
        data=body.encode(),
    )
    assert response.status == 302, response.read()[:500]
    # The caller's request id is kept apart from the platform's own (issue 12 item 11) and is
    # on the request's audit event.
    audited = manage(
        web.env,
        "shell",
        "-c",
        "from audit.models import AuditEvent; print(list(AuditEvent.objects.filter("
        "client_request_id='journey-sign-in-0001').values_list('action', flat=True)))",
    )
    assert "identity.signed_in" in audited.stdout.strip().splitlines()[-1]
    session_cookie = next(
        c for c in response.headers.get_all("Set-Cookie") if c.startswith("sessionid=")
    )
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
    # Stateless web tier: the session lives in the database, readable by any other web process.
    key = re.search(r"sessionid=([^;]+)", session_cookie).group(1)
    found = manage(
        web.env,
        "shell",
        "-c",
        f"from django.contrib.sessions.models import Session; print(Session.objects.filter(session_key='{key}').count())",
    )
    assert found.stdout.strip().splitlines()[-1] == "1"


def test_static_files_have_hashed_names_and_long_cache(web):
    page = fetch(f"{web.url}/accounts/login/", headers=BEHIND_TLS).read().decode()
    href = re.search(r'href="(/static/platform/platform\.[0-9a-f]{12}\.css)"', page)
    assert href, "the page must link the hashed file name"
    response = fetch(f"{web.url}{href.group(1)}", headers=BEHIND_TLS)
    assert response.status == 200
    assert "immutable" in response.headers["Cache-Control"]
    gzipped = fetch(f"{web.url}{href.group(1)}", headers={**BEHIND_TLS, "Accept-Encoding": "gzip"})
    assert gzipped.headers.get("Content-Encoding") == "gzip"


def test_access_log_is_json_with_the_request_id(web):
    response = fetch(f"{web.url}/healthz", headers={"X-Request-ID": "journey-req-4711"})
    # The platform makes its own id; the caller's is kept as the client request id.
    ours = response.headers["X-Request-ID"]
    assert ours != "journey-req-4711" and re.fullmatch(r"[0-9a-f]{32}", ours)
    assert response.headers["X-Client-Request-ID"] == "journey-req-4711"
    # A malformed id from outside is replaced, never logged as given.
    forged = fetch(f"{web.url}/healthz", headers={"X-Request-ID": 'x" injected'})
    assert forged.headers["X-Request-ID"] != 'x" injected'

    def logged():
        lines = [
            json.loads(line)
            for line in web.processes["web"].log().splitlines()
            if line.startswith("{")
        ]
        return [line for line in lines if line.get("request_id") == ours]

    (entry,) = web.wait_until(logged, what="the access log line")
    assert entry["client_request_id"] == "journey-req-4711"
    assert entry["path"] == "/healthz" and entry["status"] == 200
    assert entry["name"] == "gunicorn.access"
    # Every line gunicorn writes is JSON (start-up messages included).
    for line in web.processes["web"].log().splitlines():
        json.loads(line)


def test_sigterm_shuts_gunicorn_down_gracefully(tmp_path):
    port = free_port()
    env = production_environment(
        database_url=f"sqlite:///{tmp_path / 'down.sqlite3'}",
        redis_url=None,
        port=port,
        WEB_CONCURRENCY="1",
    )
    layout = Layout(env=env, port=port, logs=tmp_path)
    process = layout.start("web")
    layout.wait_until(lambda: fetch(f"{layout.url}/healthz").status in (200, 503), what="gunicorn")
    assert process.stop() == 0
    log = process.log()
    assert "Handling signal: term" in log
    assert "Shutting down: Master" in log
