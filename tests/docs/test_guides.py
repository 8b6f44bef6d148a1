"""The docs stay true: every setting documented exists and vice versa, every command in a shell
block of the README and the guides is either run here or named with the test/CI step that runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config.env import load

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_GUIDE = ROOT / "docs" / "guide-operators.md"
DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "guide-people.md",
    ROOT / "docs" / "guide-developers.md",
    OPERATOR_GUIDE,
    ROOT / "examples" / "agent_app" / "README.md",
]


class RecordingEnviron(dict):
    """A mapping that remembers every name ``config.env.load`` asks for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def env_names_read_by_config() -> set[str]:
    environ = RecordingEnviron({"DJANGO_DEBUG": "1"})
    load(environ)
    return environ.read


def section(text: str, heading: str) -> str:
    body = text.split(heading, 1)[1]
    return re.split(r"\n#{2,3} ", body, maxsplit=1)[0]


def first_column_names(markdown: str) -> set[str]:
    names: set[str] = set()
    for line in markdown.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


def test_operator_guide_documents_exactly_the_settings_config_env_reads():
    documented = first_column_names(
        section(OPERATOR_GUIDE.read_text(), "## Configuration reference")
    )
    read = env_names_read_by_config()
    assert read - documented == set(), "settings read by config/env.py but not documented"
    assert documented - read == set(), "settings documented but not read by config/env.py"


def test_operator_guide_documents_exactly_the_process_settings():
    documented = first_column_names(
        section(OPERATOR_GUIDE.read_text(), "### Process settings (gunicorn and Celery)")
    )
    gunicorn = (ROOT / "gunicorn.conf.py").read_text()
    read = set(re.findall(r'(?:_int|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"', gunicorn))
    read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", (ROOT / "Procfile").read_text()))
    read -= {"LOG_LEVEL"}  # a platform setting, documented in the reference above
    assert documented == read


# --- commands --------------------------------------------------------------------------------


def shell_commands(path: Path) -> list[str]:
    """Each command of each ```sh block (continuations joined, comments dropped)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(), flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip() if not line.strip().startswith("#") else ""
            if line:
                commands.append(line)
    return commands


# Commands too heavy or too long-running to run here, each with the test or CI step that runs it.
EXERCISED_ELSEWHERE = {
    "make test": ".ci/run",
    "make prod": "tests/journey/test_make_prod.py::test_make_prod_starts_web_worker_and_beat",
    "make journey": "tests/docs/test_guides.py::test_make_run_and_make_journey_are_valid_targets",
    "python manage.py check --deploy": "tests/journey/test_production_layout.py::test_check_deploy_reports_only_warnings_the_operator_guide_explains",
    "python manage.py vault_reencrypt": "tests/docs/test_operator_commands.py::test_vault_reencrypt_after_adding_a_key",
    "pg_dump ": "tests/docs/test_operator_commands.py::test_backup_and_restore_round_trip",
    "pg_restore ": "tests/docs/test_operator_commands.py::test_backup_and_restore_round_trip",
    ".venv/bin/python examples/agent_app/agent_app.py demo": "tests/docs/test_example_app.py::test_demo_lists_then_comments_on_the_first_selected_repository",
    ".venv/bin/python examples/agent_app/agent_app.py login": "tests/journey/test_journey.py::test_the_newcomers_journey",
    ".venv/bin/python examples/agent_app/agent_app.py repos": "tests/journey/test_journey.py::test_the_newcomers_journey",
    ".venv/bin/python examples/agent_app/agent_app.py comment": "tests/journey/test_journey.py::test_the_newcomers_journey",
    ".venv/bin/python examples/agent_app/agent_app.py logout": "tests/docs/test_example_app.py::test_logout_revokes_both_tokens_and_forgets_them",
    "make run": "tests/docs/test_guides.py::test_make_run_and_make_journey_are_valid_targets",
    ".venv/bin/python examples/agent_app/agent_app.py mcp": "tests/docs/test_example_app_mcp.py::test_mcp_mode_lists_granted_tools_and_calls_one",
    "python manage.py staff_mfa_provision": "tests/identity/test_mfa_security.py::test_an_operator_provisions_staff_mfa_by_command",
    "python manage.py audit_checkpoint": "tests/audit/test_integrity.py::test_deleting_the_newest_events_is_caught_by_a_checkpoint",
    "python manage.py audit_verify --since-checkpoint": "tests/audit/test_integrity.py::test_deleting_the_newest_events_is_caught_by_a_checkpoint",
}
# Commands this module runs itself (cheap), see test_cheap_commands_run.
RUN_HERE = {
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"',
    'python -c "import secrets; print(secrets.token_urlsafe(50))"',
    ".venv/bin/python examples/agent_app/agent_app.py --help",
}


def all_commands() -> list[tuple[str, str]]:
    return [(path.name, command) for path in DOCS for command in shell_commands(path)]


def is_assignment(command: str) -> bool:
    return bool(re.match(r"^(export\s+)?[A-Z_][A-Z0-9_]*=", command))


@pytest.mark.parametrize(("doc", "command"), all_commands())
def test_every_documented_command_is_exercised(doc, command):
    if is_assignment(command) or command in RUN_HERE:
        return
    owners = [where for prefix, where in EXERCISED_ELSEWHERE.items() if command.startswith(prefix)]
    assert owners, f"{doc}: `{command}` is run by no test; run it here or name the test that does"
    for where in owners:
        file, _, function = where.partition("::")
        text = (ROOT / file).read_text()
        if function:
            assert f"def {function}(" in text, f"{where} does not exist"
        else:
            assert command in text or command.split()[-1] in text, f"{file} does not run {command}"


def test_every_registered_command_still_appears_in_the_docs():
    commands = [command for _, command in all_commands()]
    for prefix in EXERCISED_ELSEWHERE:
        assert any(c.startswith(prefix) for c in commands), f"stale entry: {prefix}"
    for command in RUN_HERE:
        assert command in commands, f"stale entry: {command}"


def run_documented(command: str) -> subprocess.CompletedProcess:
    # Docs say `python` (an operator's environment) or `.venv/bin/python` (a checkout); use ours.
    argv = command.replace(".venv/bin/python", "python").split(" ", 1)
    script = argv[1] if len(argv) > 1 else ""
    return subprocess.run(
        f"{sys.executable} {script}" if argv[0] == "python" else command,
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cheap_commands_run():
    key = run_documented(next(c for c in RUN_HERE if "Fernet" in c))
    assert key.returncode == 0
    Fernet(key.stdout.strip().encode())  # a valid key for VAULT_KEYS
    load(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "x" * 50,
            "ALLOWED_HOSTS": "a.example",
            "VAULT_KEYS": key.stdout.strip(),
        }
    )

    secret = run_documented(next(c for c in RUN_HERE if "secrets" in c))
    assert secret.returncode == 0 and len(secret.stdout.strip()) >= 50

    helped = run_documented(".venv/bin/python examples/agent_app/agent_app.py --help")
    assert helped.returncode == 0
    for command in ("login", "repos", "comment", "demo", "logout"):
        assert command in helped.stdout

    # The example app's requirements are what it imports, and both are installed here.
    requirements = (ROOT / "examples" / "agent_app" / "requirements.txt").read_text()
    assert "authlib" in requirements and "requests" in requirements


def test_make_run_and_make_journey_are_valid_targets():
    # `make run` serves on port 8000 for good, so the suite checks its recipe and Procfile instead
    # (the web, worker and beat commands it runs are the ones the rest of the suite exercises);
    # `make journey` is the journey alone, which `make test` runs as part of the whole suite.
    dry = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert "seed_demo" in dry.stdout and "honcho start -f Procfile.dev" in dry.stdout
    dry = subprocess.run(
        ["make", "-n", "journey"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert "pytest tests/journey" in dry.stdout
    check = subprocess.run(
        [str(Path(sys.executable).parent / "honcho"), "check", "-f", "Procfile.dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_ci_runs_lint_and_test_against_postgres_and_redis():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lint" in ci and "make test" in ci
    assert "DATABASE_URL=" in ci and "REDIS_URL=" in ci


def test_readme_names_the_screenshot_folder_and_the_guides():
    readme = (ROOT / "README.md").read_text()
    assert "test-artifacts/screenshots/" in readme
    for guide in ("docs/guide-people.md", "docs/guide-developers.md", "docs/guide-operators.md"):
        assert guide in readme
        assert (ROOT / guide).exists()
    assert "examples/agent_app/" in readme


def test_developer_guide_lists_every_broker_route_of_the_contract():
    contract = (ROOT / "docs" / "architecture.md").read_text()
    routes = set(
        re.findall(r"^\| `((?:GET|POST|GET\|POST) /api/v1/[^`]+)` \|", contract, flags=re.M)
    )
    guide = (ROOT / "docs" / "guide-developers.md").read_text()
    assert routes
    for route in routes:
        assert f"`{route}`" in guide, route


def test_developer_guide_explains_every_broker_error_code():
    from broker.exceptions import REFUSALS

    guide = section((ROOT / "docs" / "guide-developers.md").read_text(), "## 4. Handle every error")
    for code, cls in REFUSALS.items():
        if code == "method_not_allowed":
            continue  # a client bug HTTP itself explains
        assert f"`{code}`" in guide, code
        row = next(line for line in guide.splitlines() if f"`{code}`" in line)
        assert row.startswith(f"| {cls.status_code} |"), f"{code}: the guide's status is wrong"
