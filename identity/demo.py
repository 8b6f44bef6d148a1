from allauth.account.models import EmailAddress

from identity.models import User

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"
ADMIN_EMAIL = "admin@example.com"


def seed(*, stdout, context) -> dict:
    user, created = User.objects.get_or_create(email=DEMO_EMAIL, defaults={"name": "Demo Person"})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    EmailAddress.objects.get_or_create(
        user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
    )
    stdout.write(f"Demo person: {DEMO_EMAIL} / {DEMO_PASSWORD}")
    return {"user": user}
