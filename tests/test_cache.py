"""The Redis cache against a real redis-server: counting in one round trip, degrading
instead of failing when Redis is away."""

import pytest

from consent.cache import TolerantRedisCache, count_hit


@pytest.fixture
def redis_cache(redis_server):
    return TolerantRedisCache(redis_server.url, {"OPTIONS": {"socket_timeout": 0.5,
                                                             "socket_connect_timeout": 0.5}})


def test_it_counts_hits_and_expires_them(redis_cache):
    assert [count_hit(redis_cache, "hits", 60) for _ in range(3)] == [1, 2, 3]
    client = redis_cache._cache.get_client(write=True)
    assert 0 < client.ttl(redis_cache.make_and_validate_key("hits")) <= 60


def test_it_degrades_when_redis_is_gone(redis_server):
    cache = TolerantRedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_timeout": 0.2,
                                                                     "socket_connect_timeout": 0.2}})
    assert count_hit(cache, "hits", 60) == 0
    assert cache.get("anything", "fallback") == "fallback"
    cache.set("anything", 1)  # no error


def test_other_caches_count_too():
    from django.core.cache.backends.locmem import LocMemCache

    cache = LocMemCache("count-test", {})
    assert [count_hit(cache, "hits", 60) for _ in range(3)] == [1, 2, 3]
