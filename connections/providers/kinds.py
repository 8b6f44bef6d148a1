"""The kinds of resource a platform scope can be narrowed to, each with its ONE canonicaliser.

The consent screen stores what the person selected in this form, and the broker compares what an
app names against it in this form: both call :func:`canonical`, so the two can never disagree
(``tests/broker/test_canonical_agreement.py`` feeds both paths the same generated spellings).
Pure: no Django, no database.

Every spelling is first percent-decoded until stable (double encoding included) and
NFKC-normalised; anything then not plain ASCII, or with whitespace or control characters, is not an
id (nothing is trimmed: " a/b" or "a/b/" is not guessed to mean "a/b"). Each kind then says its own shape; ``None`` means "not an id of this kind", never a guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

_OWNER = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38})")
_REPO = re.compile(r"[a-z0-9_.-]{1,100}")
_CHANNEL = re.compile(r"[CGD](?=[A-Z0-9]*[0-9])[A-Z0-9]{2,63}")
_DRIVE_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")
_OPAQUE = re.compile(r"[A-Za-z0-9._:@-]{1,256}")


def _decoded(raw: str) -> str | None:
    """Percent-decode until stable, then NFKC and trim; None if not clean ASCII."""
    value = raw
    for _ in range(4):
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    else:
        return None
    value = unicodedata.normalize("NFKC", value)
    if not value or not value.isascii() or any(ch.isspace() or ord(ch) < 32 for ch in value):
        return None
    return value


def _repository(value: str) -> str | None:
    value = value.lower()
    owner, sep, repo = value.partition("/")
    if not sep or not _OWNER.fullmatch(owner) or not _REPO.fullmatch(repo):
        return None
    if repo in {".", ".."} or repo.endswith(".") or repo.endswith(".git"):
        return None
    return f"{owner}/{repo}"


def _organisation(value: str) -> str | None:
    value = value.lower()
    return value if _OWNER.fullmatch(value) else None


def _channel(value: str) -> str | None:
    value = value.upper()
    return value if _CHANNEL.fullmatch(value) else None


def _drive(value: str) -> str | None:
    return value if _DRIVE_ID.fullmatch(value) else None


def _opaque(value: str) -> str | None:
    # Generic providers' ids (a project key, a workspace id): case kept, no separators.
    return value if _OPAQUE.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class ResourceKind:
    name: str
    singular: str
    plural: str
    shape: Callable[[str], str | None]
    # How a person reads the canonical form (the docs and the system check's hints).
    rule: str


KINDS: dict[str, ResourceKind] = {
    k.name: k
    for k in (
        ResourceKind(
            "repository", "repository", "repositories", _repository, "owner/name, lower-cased"
        ),
        ResourceKind(
            "organisation", "organisation", "organisations", _organisation, "login, lower-cased"
        ),
        ResourceKind("channel", "channel", "channels", _channel, "Slack id, upper-cased"),
        ResourceKind("folder", "folder", "folders", _drive, "Drive id, as is"),
        ResourceKind("file", "file", "files", _drive, "Drive id, as is"),
        ResourceKind("account", "account", "accounts", _opaque, "the provider's id, as is"),
        ResourceKind("project", "project", "projects", _opaque, "the provider's id, as is"),
    )
}


def canonical(kind: str, raw: object) -> str | None:
    """The canonical id of ``raw`` as a ``kind``, or None if it is not a well-formed one."""
    spec = KINDS.get(kind)
    if spec is None or not isinstance(raw, str):
        return None
    value = _decoded(raw)
    return spec.shape(value) if value is not None else None


def canonical_or_error(kind: str, raw: object) -> str:
    """:func:`canonical`, raising ValueError with a sentence for people when it is not an id."""
    if kind not in KINDS:
        raise ValueError(f"Unknown resource kind: {kind!r}.")
    value = canonical(kind, raw)
    if value is None:
        raise ValueError(f"Not a {KINDS[kind].singular} id ({KINDS[kind].rule}): {raw!r}.")
    return value
