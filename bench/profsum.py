"""Summarise py-spy's collapsed stacks (``--format raw``): where the samples' time goes.

    python bench/profsum.py var/bench/profile-broker-broker.txt [--match broker/] [--top 40]

Prints, per function (file:line dropped), the share of samples it appears in (inclusive) and the
share where it is the innermost frame of project code (self, attributing library time to the
project function that called it).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

ROOTS = ("apps_registry/", "audit/", "broker/", "config/", "connections/", "consent/",
         "identity/", "access/")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    with open(args.path, encoding="utf-8") as handle:
        lines = handle.readlines()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if any("select" in f and "selectors.py" in f for f in frames[-1:]) or frames[-1].startswith(
            "select ("
        ):
            continue  # idle threads waiting in select()/poll()
        total += n
        for f in set(frames):
            inclusive[f] += n
        leaf[frames[-1]] += n
        ours = [f for f in frames if any(r in f for r in ROOTS)]
        if ours:
            own[ours[-1]] += n
    print(f"{total} busy samples")
    print("inclusive:")
    for f, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("innermost project frame:")
    for f, n in own.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("leaf:")
    for f, n in leaf.most_common(20):
        print(f"  {100 * n / total:5.1f}%  {f}")


if __name__ == "__main__":
    main()
