"""Run Celery beat, at most once across the whole deployment: ``python scripts/beat.py [beat options]``.

Beat decides *when* periodic work (token refresh ahead of expiry, grant expiry, pending-action
execution, the worker heartbeat) is queued. Two beats would queue everything twice, so this
launcher first takes a lock in Redis (``SET key token NX EX 60``), renews it every 20 seconds and
gives it back on exit. A second beat, on this machine or any other, finds the lock held, says by
whom, and exits with status 3 without queueing anything. If the holder dies without releasing
(SIGKILL, lost machine), the lock expires after 60 seconds and the next beat started takes over.
If the holder ever loses the lock (Redis flushed, network partition longer than the lock's life),
it stops itself rather than risk running twice.

Beat keeps its schedule in memory (``celery.beat:Scheduler``), not in a file: nothing on local
disk. The schedule is intervals, so a restart only means "count from now".
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

LOCK_KEY = "platform:celery-beat:lock"
LOCK_SECONDS = 60
RENEW_EVERY_SECONDS = 20
EXIT_LOCK_HELD = 3
STOP_DEADLINE_SECONDS = 20

# Compare-and-set scripts: only the holder may renew or release.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class BeatLock:
    """The single-beat lock: ``acquire()`` once, ``renew()`` periodically, ``release()`` at exit."""

    def __init__(self, client, *, key: str = LOCK_KEY, seconds: int = LOCK_SECONDS):
        self.client = client
        self.key = key
        self.seconds = seconds
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, ex=self.seconds))

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    def renew(self) -> bool:
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.seconds))

    def release(self) -> bool:
        return bool(self.client.eval(_RELEASE, 1, self.key, self.token))


def _keep_renewing(lock: BeatLock, stop: threading.Event) -> None:
    while not stop.wait(RENEW_EVERY_SECONDS):
        try:
            still_ours = lock.renew()
        except Exception as exc:  # Redis unreachable: keep trying until the lock would expire
            sys.stderr.write(f"beat: could not renew the single-beat lock: {exc}\n")
            continue
        if not still_ours:
            sys.stderr.write("beat: lost the single-beat lock; stopping so beat never runs twice\n")
            os.kill(os.getpid(), signal.SIGTERM)
            return


class _Shutdown:
    """SIGTERM and SIGINT, from before Celery starts until the process ends.

    The request is *remembered*, not only raised: a ``SystemExit`` raised by a handler lands
    between two bytecodes of whatever runs, and inside a C callback Python prints
    "Exception ignored in ..." and carries on (seen during Celery's start-up), so beat would run
    on, lock held, until someone kills it. ``beat_init`` therefore checks the request before the
    first tick. Celery's own handler is never installed (see ``main``): it closes the broker
    connection and saves the schedule *inside* the handler, which can deadlock on a lock the
    interrupted publish holds or re-enter an import under way; ours does no I/O.
    If beat has still not ended ``STOP_DEADLINE_SECONDS`` after the signal, a watchdog gives the
    lock back and exits with status 1, so a deploy never waits for the lock to expire.
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.lock: BeatLock | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.handle)
        signal.signal(signal.SIGINT, self.handle)

    def handle(self, signum, frame) -> None:
        if not self.requested.is_set():
            self.requested.set()
            threading.Thread(target=self._watchdog, name="beat-stop-watchdog", daemon=True).start()
        raise SystemExit(0)

    def on_beat_init(self, sender, **kwargs) -> None:
        self.install()  # again: whatever ran since, ours must be the handler
        if self.requested.is_set():
            sender.stop()  # a stop that arrived during start-up: never tick

    def _watchdog(self) -> None:
        time.sleep(STOP_DEADLINE_SECONDS)
        sys.stderr.write(
            f"beat: still running {STOP_DEADLINE_SECONDS} s after being asked to stop; "
            "giving the single-beat lock back and exiting\n"
        )
        if self.lock is not None:
            with contextlib.suppress(Exception):
                self.lock.release()
        sys.stderr.flush()
        os._exit(1)


_shutdown = _Shutdown()


def _keep_our_handler(beat, service) -> None:
    _shutdown.install()


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import redis
    from celery.apps.beat import Beat
    from celery.signals import beat_init
    from django.conf import settings

    from config.celery import app

    redis_url = settings.ENV.redis_url
    if not redis_url:
        sys.stderr.write(
            "beat: REDIS_URL is not set. A separate beat process needs Redis (its lock makes sure "
            "only one beat runs); without Redis the worker runs beat itself (`celery worker --beat`).\n"
        )
        return 2
    # From here on a SIGTERM (a deploy, a test stopping us) ends beat cleanly and gives the lock
    # back, whenever it arrives: see _Shutdown.
    _shutdown.install()
    beat_init.connect(_shutdown.on_beat_init, weak=False)
    lock = BeatLock(redis.Redis.from_url(redis_url))
    if not lock.acquire():
        sys.stderr.write(
            f"beat: another beat holds the single-beat lock ({lock.holder()}); "
            "not starting a second one.\n"
        )
        return EXIT_LOCK_HELD
    _shutdown.lock = lock
    sys.stderr.write(f"beat: holding the single-beat lock as {lock.token}\n")
    stop = threading.Event()
    threading.Thread(target=_keep_renewing, args=(lock, stop), daemon=True).start()
    # Celery's own SIGTERM handler (``install_sync_handler``) saves the schedule *inside* the
    # handler: landing while the scheduler is first built (Service.start builds it lazily, before
    # beat_init, and that imports the result backend) it builds it again mid-import and fails
    # ("partially initialized module"), exit 1. Ours stays in place instead: it raises
    # SystemExit, and Service.start saves the schedule on its way out.
    Beat.install_sync_handler = _keep_our_handler
    try:
        code = app.start(["beat", "--scheduler", "celery.beat:Scheduler", *argv])
    except SystemExit as exc:
        code = exc.code
    except Exception:
        if not _shutdown.requested.is_set():
            raise
        code = 1
    finally:
        stop.set()
        lock.release()
    code = code if isinstance(code, int) else 0
    if code and _shutdown.requested.is_set():
        # The signal's SystemExit can land inside a library that turns it into its own error (seen:
        # pydantic-core building a schema during an import). Asked to stop, beat stopped: that is
        # a clean exit, and the lock is already back.
        sys.stderr.write(
            "beat: stopped by a signal during start-up (any error above is its echo)\n"
        )
        code = 0
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
