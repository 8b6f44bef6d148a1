"""Migrate and seed the stock django-oauth-toolkit baseline (run by the harness in a child process,
with ``DJANGO_SETTINGS_MODULE=bench.baselines.stock_dot``); prints the clients as one JSON line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

if __name__ == "__main__":
    import django

    django.setup()
    import world
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(json.dumps(world.stock_dot_world(refresh_pool=int(sys.argv[1]))), flush=True)
