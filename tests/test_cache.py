"""The Redis cache against a real redis-server: throttle counts shared between
processes without a round trip per hit, degrading instead of failing when Redis is away."""

import os
import time

import pytest
import redis
from django.core.cache.backends.locmem import LocMemCache

from consent.api import throttle_counts
from consent.api.throttle_counts import SharedCounts, count_in_cache
from consent.cache import TolerantRedisCache


@pytest.fixture
def client(redis_server):
    return redis.Redis.from_url(redis_server.url)


def test_it_counts_hits_and_shares_them_with_an_expiry(client, monkeypatch):
    monkeypatch.setattr(throttle_counts, "FLUSH_SECONDS", 3600)  # flushed by hand here
    shared = SharedCounts(lambda: client)
    key = f"hits-{time.time_ns()}"
    assert [shared.hit(key, 60) for _ in range(3)] == [1, 2, 3]
    shared.flush()
    assert int(client.get(key)) == 3
    assert 0 < client.ttl(key) <= 60


def test_processes_learn_each_others_hits(client, monkeypatch):
    """Two processes' counts (two SharedCounts) meet in Redis: a process learns the
    total of a key when it flushes its own hits of that key."""
    monkeypatch.setattr(throttle_counts, "FLUSH_SECONDS", 3600)
    first = SharedCounts(lambda: client)
    second = SharedCounts(lambda: client)
    key = f"visitor-{time.time_ns()}"
    assert [first.hit(key, 60) for _ in range(3)] == [1, 2, 3]
    assert [second.hit(key, 60) for _ in range(2)] == [1, 2]
    first.flush()
    second.flush()  # learns first's 3
    assert second.hit(key, 60) == 6
    assert first.hit(key, 60) == 4  # has not heard of second's yet
    first.flush()
    assert first.hit(key, 60) == 7  # 3 + 2 + its own 2 (second's latest is pending there)
    second.flush()
    first.flush()
    assert int(client.get(key)) == 8


def test_the_counts_are_flushed_in_the_background(client, monkeypatch):
    monkeypatch.setattr(throttle_counts, "FLUSH_SECONDS", 0.01)
    shared = SharedCounts(lambda: client)
    key = f"background-{time.time_ns()}"
    shared.hit(key, 60)
    deadline = time.monotonic() + 5
    while client.get(key) is None:
        assert time.monotonic() < deadline, "the background thread never flushed"
        time.sleep(0.01)
    assert int(client.get(key)) == 1


def test_counts_go_on_locally_when_redis_is_gone(caplog, monkeypatch):
    monkeypatch.setattr(throttle_counts, "FLUSH_SECONDS", 3600)
    gone = redis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    shared = SharedCounts(lambda: gone)
    # Throttles keep counting in this process; nothing fails.
    assert [shared.hit("hits", 60) for _ in range(3)] == [1, 2, 3]
    shared.flush()
    shared.flush()
    assert shared.hit("hits", 60) == 4
    # Said once, not every 50 ms.
    assert len([r for r in caplog.records if "not shared" in r.getMessage()]) == 1


def test_the_cache_degrades_when_redis_is_gone():
    cache = TolerantRedisCache(
        "redis://127.0.0.1:1/0",
        {"OPTIONS": {"socket_timeout": 0.2, "socket_connect_timeout": 0.2}},
    )
    assert cache.get("anything", "fallback") == "fallback"
    cache.set("anything", 1)  # no error
    assert cache.add("anything", 1) is False


def test_other_caches_count_with_add_and_incr():
    cache = LocMemCache("count-test", {})
    assert [count_in_cache(cache, "hits", 60) for _ in range(3)] == [1, 2, 3]


def test_counts_of_past_windows_are_let_go(client, monkeypatch):
    monkeypatch.setattr(throttle_counts, "FLUSH_SECONDS", 3600)
    shared = SharedCounts(lambda: client)
    shared.hit("short-lived", 1)
    shared.flush()
    assert "short-lived" in shared._counts
    deadline = time.monotonic() + 10
    while shared._counts:  # let go by the first flush after the key's second is past
        assert time.monotonic() < deadline, "the key was never let go"
        time.sleep(0.1)
        shared.flush()
    assert shared._expiring == {}


def test_a_forked_worker_starts_with_no_counts(client, monkeypatch):
    monkeypatch.setattr(throttle_counts, "FLUSH_SECONDS", 3600)
    shared = SharedCounts(lambda: client)
    shared.hit("parent", 60)
    pid = os.fork()
    if pid == 0:  # the child: nothing inherited, its own thread on its first hit
        ok = shared._counts == {} and shared._pid is None and shared.hit("child", 60) == 1
        os._exit(0 if ok and shared._pid == os.getpid() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "parent" in shared._counts
