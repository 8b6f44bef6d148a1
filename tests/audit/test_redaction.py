import pytest

from audit.redaction import REDACTED, redact, redact_text


@pytest.mark.parametrize(
    "key",
    [
        "access_token", "refresh_token", "token", "client_secret", "password", "Authorization",
        "cookie", "code_verifier", "code", "body", "request_body", "api_key", "content",
    ],
)  # fmt: skip
def test_secret_keys_are_removed_whatever_their_value(key):
    assert redact({key: "anything at all", "status": 200}) == {key: REDACTED, "status": 200}


def test_nested_structures_are_redacted():
    data = {"outer": [{"refresh_token": "r"}, ("x", {"secret": 1})], "n": 3}
    assert redact(data) == {
        "outer": [{"refresh_token": REDACTED}, ["x", {"secret": REDACTED}]],
        "n": 3,
    }


@pytest.mark.parametrize(
    "secret",
    [
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "xoxb-123456789012-abcdefghijklmnop",
        "xoxp-1234-5678-abcdefgh",
        "ya29.a0AfH6SMBxyzxyzxyzxyz",
        "1//0gLongGoogleRefreshToken_abc",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_token_shaped_values_are_masked_anywhere(secret):
    text = f"upstream said: bad credentials {secret} (retry)"
    assert secret not in redact_text(text)
    assert secret not in str(redact({"message": text}))
    assert "upstream said: bad credentials" in redact_text(text)


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer s3cr3t-platform-token", "s3cr3t-platform-token"),
        ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("https://x.test/cb?code=abc&access_token=TOPSECRET1&x=1", "TOPSECRET1"),
        ('{"refresh_token": "r-123-abc"}', "r-123-abc"),
        ("client_secret=hunter2hunter2", "hunter2hunter2"),
    ],
)
def test_credentials_in_free_text_are_masked(text, leak):
    assert leak not in redact_text(text)


def test_ordinary_values_are_kept():
    data = {"status": 403, "scope": "services.github.repositories.read", "resource": "octo/docs"}
    assert redact(data) == data
    assert redact_text("resource_not_granted: octo/docs") == "resource_not_granted: octo/docs"


def test_bytes_are_never_kept():
    assert redact({"raw": b"\x00binary"}) == {"raw": REDACTED}
