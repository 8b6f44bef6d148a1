"""Beat runs once: scripts/beat.py's Redis lock refuses a second beat, anywhere."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import uuid

import pytest

from tests.journey.layout import ROOT, Layout, free_port, journey_redis_url, production_environment

REDIS_URL = journey_redis_url("beat-lock")
pytestmark = pytest.mark.skipif(
    REDIS_URL is None,
    reason="needs Redis (set REDIS_URL): the single-beat lock lives in Redis; without Redis the "
    "worker embeds beat (`celery worker --beat`) and there is nothing to lock",
)


def load_beat_module():
    spec = importlib.util.spec_from_file_location("platform_beat", ROOT / "scripts" / "beat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def redis_client():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def test_second_lock_is_refused_until_the_first_is_released(redis_client):
    beat = load_beat_module()
    key = f"test:beat-lock:{uuid.uuid4().hex}"
    first = beat.BeatLock(redis_client, key=key, seconds=30)
    second = beat.BeatLock(redis_client, key=key, seconds=30)
    assert first.acquire()
    assert not second.acquire()
    assert second.holder() == first.token
    # Only the holder may renew or release: the other one cannot steal or drop it.
    assert not second.renew()
    assert not second.release()
    assert first.renew()
    assert first.release()
    assert second.acquire()
    second.release()


def test_holder_notices_when_it_lost_the_lock(redis_client):
    beat = load_beat_module()
    key = f"test:beat-lock:{uuid.uuid4().hex}"
    lock = beat.BeatLock(redis_client, key=key, seconds=30)
    assert lock.acquire()
    redis_client.delete(key)  # expired, or Redis was flushed
    thief = beat.BeatLock(redis_client, key=key, seconds=30)
    assert thief.acquire()
    assert not lock.renew()  # so the holder stops itself (see _keep_renewing)
    thief.release()


def test_a_second_beat_process_refuses_to_start(tmp_path):
    env = production_environment(
        database_url=f"sqlite:///{tmp_path / 'beat.sqlite3'}", redis_url=REDIS_URL, port=free_port()
    )
    layout = Layout(env=env, port=0, logs=tmp_path)
    first = layout.start("beat")
    try:
        layout.wait_until(lambda: "holding the single-beat lock" in first.log(), what="first beat")
        (tmp_path / "second").mkdir()
        second = Layout(env=env, port=0, logs=tmp_path / "second").start("beat")
        assert second.popen.wait(60) == 3
        assert "another beat holds the single-beat lock" in second.log()
        assert first.running
    finally:
        assert first.stop() == 0, first.log()[-4000:]
    # A clean stop gives the lock back at once: the next beat may start.
    import redis

    assert redis.Redis.from_url(REDIS_URL).get("platform:celery-beat:lock") is None


def test_a_stop_swallowed_during_start_up_still_stops_beat_before_its_first_tick():
    """A handler's SystemExit raised inside a C callback is only printed ("Exception ignored in"):
    the request must be remembered, so beat_init stops beat before it ticks. Run in a child
    process: the stop watchdog would end the test process otherwise."""
    script = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("platform_beat", {str(ROOT / "scripts" / "beat.py")!r})
beat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(beat)

class Service:
    stopped = False
    def stop(self, wait=False):
        self.stopped = True

shutdown = beat._Shutdown()
try:
    shutdown.handle(15, None)
except SystemExit:
    pass  # what a C callback does with it
service = Service()
shutdown.on_beat_init(sender=service)
print("stopped" if service.stopped else "ticking")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "stopped", result.stderr


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8, 1.5, 3.0])
def test_beat_stopped_at_any_moment_of_its_start_up_exits_cleanly_and_frees_the_lock(
    tmp_path, delay
):
    env = production_environment(
        database_url=f"sqlite:///{tmp_path / 'beat.sqlite3'}", redis_url=REDIS_URL, port=free_port()
    )
    layout = Layout(env=env, port=0, logs=tmp_path)
    beat = layout.start("beat")
    layout.wait_until(lambda: "holding the single-beat lock" in beat.log(), what="beat")
    time.sleep(delay)  # where in Celery's start-up the signal lands; not a timing assertion
    assert beat.stop() == 0, beat.log()[-4000:]
    import redis

    assert redis.Redis.from_url(REDIS_URL).get("platform:celery-beat:lock") is None
