"""Consent engine throughput: ``consent.engine.decide`` and ``resolve_approval`` (pure, no database).

Every authorization request runs ``decide`` once (and the approval runs it again with
``resolve_approval``), so its cost is a floor under the authorization endpoint's latency. Cases:

- ``covered``: everything already granted (the no-screen path),
- ``delta``: three service scopes granted, one new, background declined before,
- ``missing``: a service not connected and one needing an upgrade,
- ``many``: all catalog scopes, 20 connections across three services (two accounts each, and
  inactive ones).

Usage::

    DJANGO_DEBUG=1 .venv/bin/python bench/consent_engine.py --seconds 2

Prints one table; nothing is asserted. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from consent.approval_plan import ChoiceError, resolve_approval
from consent.catalog import CATALOG
from consent.engine import (
    AppInfo,
    ConnectionInfo,
    GrantInfo,
    decide,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GH_R, GH_W = "services.github.repositories.read", "services.github.repositories.write"
SL_R, SL_W = "services.slack.channels.read", "services.slack.messages.write"
DR_R = "services.google.drive.files.read"
BG = "agents.jobs.background"
PROVIDERS = ("github", "sandbox_github", "slack", "sandbox_slack", "google", "sandbox_google")


def gh(i, scopes=("repo", "read:user"), status="active"):
    return ConnectionInfo(i, "sandbox_github", "github", frozenset(scopes), status)


def sl(i, scopes=("channels:read", "channels:history", "chat:write")):
    return ConnectionInfo(i, "sandbox_slack", "slack", frozenset(scopes))


def dr(i):
    return ConnectionInfo(
        i, "sandbox_google", "google", frozenset({"https://www.googleapis.com/auth/drive.readonly"})
    )


CASES = {
    "covered": dict(
        app=AppInfo({GH_R: True, SL_R: True}, True),
        requested=[GH_R, SL_R],
        connections=[gh(1), sl(2)],
        grant=GrantInfo(frozenset({GH_R, SL_R}), {"github": 1, "slack": 2}),
    ),
    "delta": dict(
        app=AppInfo({GH_R: True, SL_R: True, DR_R: True, GH_W: True, BG: False}, True),
        requested=[GH_R, SL_R, DR_R, GH_W, BG],
        connections=[gh(1), sl(2), dr(3)],
        grant=GrantInfo(
            frozenset({GH_R, SL_R, DR_R}),
            {"github": 1, "slack": 2, "google": 3},
            declined=frozenset({BG}),
        ),
    ),
    "missing": dict(
        app=AppInfo({GH_R: True, SL_R: True, BG: False}, True),
        requested=[GH_R, SL_R, BG],
        connections=[gh(1, scopes=("read:user",))],
        grant=None,
    ),
    "many": dict(
        app=AppInfo({name: True for name in CATALOG}, True),
        requested=list(CATALOG),
        connections=[gh(i) for i in range(1, 7)]
        + [gh(i, status="revoked") for i in range(7, 10)]
        + [sl(i) for i in range(10, 16)]
        + [dr(i) for i in range(16, 21)],
        grant=GrantInfo(frozenset({GH_R}), {"github": 2}),
    ),
}


def run(case: dict, seconds: float) -> tuple[int, float, int, float]:
    kwargs = dict(case, now=NOW, available_providers=PROVIDERS)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        decide(**kwargs)
        n += 1
    decide_rate = n / (time.perf_counter() - start)
    decision = decide(**kwargs)
    chosen = {p.service: p.candidates[0] for p in decision.services if p.candidates}
    m, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        with contextlib.suppress(ChoiceError):
            resolve_approval(
                decision, accepted=[BG], chosen_connections=chosen, connections=case["connections"]
            )
        m += 1
    return n, decide_rate, m, m / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"{'case':<10} {'decide/s':>12} {'µs/decide':>10} {'resolve/s':>12} {'µs/resolve':>11}")
    for name, case in CASES.items():
        _, rate, _, resolve_rate = run(case, args.seconds)
        print(
            f"{name:<10} {rate:>12,.0f} {1e6 / rate:>10.1f} "
            f"{resolve_rate:>12,.0f} {1e6 / resolve_rate:>11.1f}"
        )


if __name__ == "__main__":
    main()
