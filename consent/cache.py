"""A Redis cache that degrades instead of failing.

The cache only ever speeds things up: bundles are rebuilt from the database and
throttles count per process while Redis is away, but no consent write waits on it or
fails because of it.
"""

import logging
import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

from .counts import SharedCounts

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
        # One set of counts per Redis and process: Django makes a cache object per thread.
        self._counts = shared_counts(
            tuple(self._servers), lambda: self._cache.get_client(write=True)
        )

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
        """Add one to a counter that expires ``timeout`` seconds after its first hit;
        counted in this process and shared through Redis in the background (see
        consent.counts), so no request waits on Redis for it."""
        return self._counts.hit(self.make_and_validate_key(key), timeout)


_SHARED: dict[tuple, SharedCounts] = {}
_SHARED_LOCK = threading.Lock()


def shared_counts(servers: tuple, get_client) -> SharedCounts:
    with _SHARED_LOCK:
        if servers not in _SHARED:
            _SHARED[servers] = SharedCounts(get_client)
        return _SHARED[servers]


def count_hit(cache, key: str, timeout: int) -> int:
    """A counter in any Django cache: shared through Redis (consent.counts), others with
    add + incr."""
    if isinstance(cache, TolerantRedisCache):
        return cache.count_hit(key, timeout)
    if cache.add(key, 1, timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1
