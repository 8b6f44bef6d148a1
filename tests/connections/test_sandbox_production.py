"""Issue 12 item 10: the sandbox is off in production unless asked for, a deploy check warns
when it is on, and seed_demo neither runs in production by default nor prints a secret."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from config.env import load
from connections.sandbox.checks import sandbox_in_production
from identity.models import User

PRODUCTION = {
    "DJANGO_SECRET_KEY": "s" * 50,
    "ALLOWED_HOSTS": "access.example.com",
    "VAULT_KEYS": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
}


def test_sandbox_is_off_in_production_and_on_in_debug():
    assert load(PRODUCTION).sandbox_enabled is False
    assert load({"DJANGO_DEBUG": "1"}).sandbox_enabled is True
    assert load({**PRODUCTION, "SANDBOX_ENABLED": "1"}).sandbox_enabled is True


def test_deploy_check_warns_when_the_sandbox_is_on_in_production(settings):
    settings.DEBUG = False
    settings.SANDBOX_ENABLED = True
    assert [w.id for w in sandbox_in_production()] == ["connections.W101"]
    settings.SANDBOX_ENABLED = False
    assert sandbox_in_production() == []


@pytest.mark.django_db
def test_seed_demo_refuses_production_and_writes_nothing(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="allow-production"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not User.objects.exists()


@pytest.mark.django_db
def test_seed_demo_never_prints_the_client_secret(settings, tmp_path):
    settings.DEBUG = True
    settings.BASE_DIR = tmp_path
    settings.DEMO_AGENT_CLIENT_SECRET = ""
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    secret = (tmp_path / "var" / "demo-agent.secret").read_text().strip()
    assert len(secret) >= 32 and secret not in out.getvalue()
