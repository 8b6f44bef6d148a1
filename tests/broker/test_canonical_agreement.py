"""The consent screen's store path and the broker's check agree on every spelling (issue 13).

1,000 generated spellings (case, single and double percent-encoding, slashes, dot segments,
padding, control characters, full-width and other Unicode look-alikes) go through both paths: the
id the consent listing would store (``connections.resources``, as the screen builds its choices)
and the broker's decision for an app naming the same spelling against a grant holding what was
stored (``broker.selectors.grant_facts`` + ``broker.policy.decide``). Whenever consent stores an
id, the broker allows exactly that id; whenever consent refuses a spelling, the broker refuses it
too, even against a grant that selected every well-formed id of the base.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote

from broker.policy import CallFacts, ConnectionFacts, TokenFacts, decide
from broker.selectors import grant_facts
from connections.providers import GITHUB, GOOGLE, SLACK
from connections.resources import _item

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CASES = {
    "repository": ("services.github.repositories.read", GITHUB, ["Octo-Demo/Docs", "a/b.c_d"]),
    "organisation": ("services.github.organisations.read", GITHUB, ["Octo-Demo", "acme-1"]),
    "channel": ("services.slack.channels.read", SLACK, ["C0GENERAL1", "g01abcdef"]),
    "folder": ("services.google.drive.files.read", GOOGLE, ["1FoldProjectsAda", "x-_Y9"]),
}
TWISTS = [
    str.upper, str.lower, str.swapcase,
    lambda s: quote(s, safe=""),
    lambda s: quote(quote(s, safe=""), safe=""),
    lambda s: quote(quote(quote(quote(quote(s, safe=""), safe=""), safe=""), safe=""), safe=""),
    lambda s: " " + s, lambda s: s + " ", lambda s: s + "/", lambda s: "/" + s,
    lambda s: s + "\t", lambda s: s + "\x00", lambda s: s.replace("/", "%2F"),
    lambda s: s.replace("/", "/../"), lambda s: s + "/..", lambda s: s + ".", lambda s: s + ".git",
    lambda s: s.replace("o", "\u043e"),  # Cyrillic o
    lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s),  # full width
    lambda s: s.replace("-", "\u2010"), lambda s: s + "\u200b",
    lambda s: s.replace("/", "//"), lambda s: s[:1], lambda s: "", lambda s: s * 40,
    lambda s: s.replace("a", "%61"), lambda s: s + "%", lambda s: s + "%zz",
    lambda s: s.replace("/", "\\"), lambda s: s + "?x=1", lambda s: s + "#frag",
    lambda s: "-" + s, lambda s: s.replace("-", "_"),
]  # fmt: skip


def spellings(seed: int = 13, count: int = 1000) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    kinds = list(CASES)
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        value = rng.choice(CASES[kind][2])
        for twist in rng.sample(TWISTS, rng.randint(0, 3)):
            value = twist(value)
        out.append((kind, value))
    return out


def _stored(kind: str, raw: str) -> str | None:
    """What the consent screen would store for a provider item spelled ``raw`` (or None)."""
    listing = CASES[kind][1].listing(kind)
    item = {listing.id_field: raw, "mimeType": listing.filter_value, "name": "x"}
    try:
        resource = _item(listing, item)
    except ValueError:
        return None
    return resource.id if resource else None


def _broker(kind: str, raw: str, selected: list[str]):
    scope = CASES[kind][0]
    grant = SimpleNamespace(
        resources={scope: [{"id": s, "label": s} for s in selected]},
        scopes=[scope],
        revoked_at=None,
        expires_at=None,
        app=SimpleNamespace(suspended_at=None),
        user=SimpleNamespace(is_active=True),
    )
    service = CASES[kind][1].service
    return decide(
        token=TokenFacts(
            scopes=frozenset({scope}),
            issued_at=NOW - timedelta(minutes=1),
            expires_at=NOW + timedelta(minutes=9),
        ),
        grant=grant_facts(grant),
        connection=ConnectionFacts(service=service, active=True, owned_by_grant_user=True),
        call=CallFacts(scope=scope, service=service, resource_kind=kind, resource=raw),
        now=NOW,
        session_window=timedelta(hours=1),
    )


def test_consent_and_broker_agree_on_1000_generated_spellings():
    cases = spellings()
    assert len(cases) == 1000
    stored_count = 0
    for kind, raw in cases:
        stored = _stored(kind, raw)
        if stored is not None:
            stored_count += 1
            decision = _broker(kind, raw, [stored])
            assert decision.allowed, (kind, raw, stored, decision.refusal)
            assert decision.resource == stored, (kind, raw)
        else:
            everything = [c for c in (_stored(kind, b) for b in CASES[kind][2]) if c]
            decision = _broker(kind, raw, everything)
            assert not decision.allowed, (kind, raw, decision.resource)
    # Both outcomes are exercised, not just one.
    assert 150 < stored_count < 850


def test_the_organisation_case_from_the_issue():
    assert _stored("organisation", "Octo-Demo") == "octo-demo"
    assert _broker("organisation", "Octo-Demo", ["octo-demo"]).allowed
