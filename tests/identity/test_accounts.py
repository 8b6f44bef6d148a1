from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, hotp_value
from django.urls import reverse

from identity.models import User
from tests.factories import UserFactory


def test_sign_up_with_email_creates_a_user(client, db):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "ada@example.com",
            "password1": "a long safe passphrase 1",
            "password2": "a long safe passphrase 1",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="ada@example.com")
    assert user.check_password("a long safe passphrase 1")
    assert client.get(reverse("identity:profile")).status_code == 200


def test_sign_in_and_profile(client, user, password):
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302
    page = client.get(reverse("identity:profile"))
    assert user.email in page.content.decode()


def test_wrong_password_is_refused(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_profile_needs_sign_in(client, db):
    response = client.get(reverse("identity:profile"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_admin_login_form_is_allauths(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_staff_without_mfa_cannot_reach_admin(client, db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 302
    # Not to self-enrolment (issue 12 item 6): staff MFA is provisioned by an operator.
    assert response["Location"] == reverse("identity:staff-mfa-required")


def test_staff_with_mfa_signs_in_with_a_code_and_reaches_admin(client, db, password):
    staff = UserFactory(is_staff=True, is_superuser=True)
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    response = client.post(reverse("account_login"), {"login": staff.email, "password": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302  # not signed in until the second factor
    import time

    code = format(hotp_value(secret, int(time.time()) // 30), "06d")
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert Authenticator.objects.filter(user=staff).exists()
