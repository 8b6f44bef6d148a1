"""Beat runs once: scripts/beat.py's Redis lock refuses a second beat, anywhere."""

from __future__ import annotations

import importlib.util
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
        assert first.stop() == 0
    # A clean stop gives the lock back at once: the next beat may start.
    import redis

    assert redis.Redis.from_url(REDIS_URL).get("platform:celery-beat:lock") is None
