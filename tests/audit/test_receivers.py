"""Sign-in, sign-in failure, sign-out and MFA changes, through the real allauth flows."""

import json
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import hotp_value
from django.urls import reverse

from audit.actions import Action
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _only(action):
    (event,) = AuditEvent.objects.filter(action=action)
    return event


def test_sign_in_is_recorded(client, user, password):
    response = client.post(
        reverse("account_login"),
        {"login": user.email, "password": password},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302
    event = _only(Action.SIGNED_IN)
    assert event.actor_type == "person" and event.actor_user_id == user.pk
    assert event.subject_user_id == user.pk and event.subject_label == user.email
    assert event.source_ip == "203.0.113.9" and event.request_id
    assert event.outcome == "success"


def test_failed_sign_in_is_recorded_without_the_password(client, user):
    client.post(reverse("account_login"), {"login": user.email, "password": "Wrong-Passw0rd!"})
    event = _only(Action.SIGN_IN_FAILED)
    assert event.outcome == "failure" and event.subject_user_id == user.pk
    assert event.metadata == {"identifier": user.email}
    assert "Wrong-Passw0rd!" not in json.dumps(list(AuditEvent.objects.values()), default=str)


def test_failed_sign_in_with_a_password_typed_as_login_keeps_no_trace_of_it(client, db):
    client.post(reverse("account_login"), {"login": "MySecretPass123", "password": "x"})
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "MySecretPass123" not in dumped.lower() and "mysecretpass123" not in dumped.lower()


def test_sign_out_is_recorded(client, user):
    client.force_login(user)
    client.post(reverse("account_logout"))
    event = _only(Action.SIGNED_OUT)
    assert event.actor_user_id == user.pk and event.subject_user_id == user.pk


def test_mfa_turned_on_and_off_is_recorded(client, password, django_capture_on_commit_callbacks):
    person = UserFactory()
    client.post(reverse("account_login"), {"login": person.email, "password": password})
    client.get(reverse("mfa_activate_totp"))
    secret = client.session["mfa.totp.secret"]
    code = format(hotp_value(secret, int(time.time()) // 30), "06d")
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals on commit
        response = client.post(reverse("mfa_activate_totp"), {"code": code})
    assert response.status_code == 302, response.content
    assert Authenticator.objects.filter(user=person, type="totp").exists()
    enabled = AuditEvent.objects.filter(action=Action.MFA_ENABLED, subject_user=person)
    assert {e.metadata["authenticator"] for e in enabled} >= {"totp"}
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert secret not in dumped and code not in dumped

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_generate_recovery_codes"))
    assert response.status_code == 302
    reset = AuditEvent.objects.get(action=Action.MFA_RESET, subject_user=person)
    assert reset.metadata == {"authenticator": "recovery_codes"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    disabled = AuditEvent.objects.filter(action=Action.MFA_DISABLED, subject_user=person)
    assert "totp" in {e.metadata["authenticator"] for e in disabled}


def test_wrong_second_factor_is_recorded(client, password):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    person = UserFactory()
    TOTP.activate(person, generate_totp_secret())
    client.post(reverse("account_login"), {"login": person.email, "password": password})
    client.post(reverse("mfa_authenticate"), {"code": "000000"})
    event = AuditEvent.objects.filter(action=Action.SIGN_IN_FAILED, subject_user=person).get()
    assert event.reason == "wrong two-factor code"
    assert "000000" not in json.dumps(event.metadata)
