import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # People's passwords are not what these tests are about; PBKDF2 makes each user cost ~0.5 s.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
