"""A Redis cache that degrades instead of failing.

The cache only ever speeds things up: bundles are rebuilt from the database and
throttles stop counting while Redis is away, but no consent write waits on it or fails
because of it.
"""

import logging

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def _tolerant(method_name: str, fallback):
    def method(self, *args, **kwargs):
        try:
            return getattr(super(TolerantRedisCache, self), method_name)(*args, **kwargs)
        except RedisError as error:
            log.warning("cache %s failed, carrying on without it: %s", method_name, error)
            return fallback(args, kwargs) if callable(fallback) else fallback

    method.__name__ = method_name
    return method


def _default(args, kwargs):
    return kwargs.get("default", args[1] if len(args) > 1 else None)


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django builds a new ``redis.Redis`` (and its table of ~200 response callbacks) for
    every cache call, which costs more than the call itself on a hot path such as the
    consent POST. A client is thread-safe and holds only its pool: one per pool will do."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class TolerantRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    get = _tolerant("get", _default)
    get_many = _tolerant("get_many", {})
    set = _tolerant("set", None)
    set_many = _tolerant("set_many", [])
    add = _tolerant("add", False)
    delete = _tolerant("delete", False)
    delete_many = _tolerant("delete_many", None)
    touch = _tolerant("touch", False)
    has_key = _tolerant("has_key", False)
    incr = _tolerant("incr", 0)

    def count_hit(self, key: str, timeout: int) -> int:
        """Add one to a counter that expires after ``timeout`` seconds, in one round trip.
        While Redis is away the count is 0: throttles stop counting, nothing fails."""
        full_key = self.make_and_validate_key(key)
        try:
            pipe = self._cache.get_client(full_key, write=True).pipeline(transaction=False)
            pipe.incr(full_key)
            pipe.expire(full_key, timeout)
            count, _ = pipe.execute()
        except RedisError as error:
            log.warning("cache count_hit failed, carrying on without it: %s", error)
            return 0
        return count


def count_hit(cache, key: str, timeout: int) -> int:
    """A counter in any Django cache: Redis in one round trip, others with add + incr."""
    if isinstance(cache, TolerantRedisCache):
        return cache.count_hit(key, timeout)
    if cache.add(key, 1, timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1
