"""The throttles' hit counters: with the platform's Redis cache, counted in the process
and shared through Redis in the background.

Counting every decision in Redis (the cache API's ``add`` and ``incr``) is several round
trips per request, which took a large share of the consent POST's server CPU (README,
"What the consent POST's machinery saves"). So, when the cache is Redis, each
process counts hits itself and a background thread adds them to Redis every
``FLUSH_SECONDS`` in one command, learning the totals of every process in return. A hit
is judged on the last known total plus this process's hits since:

- one process alone counts exactly; N processes learn each other's hits within one
  flush interval, so a client hitting all of them at once may be admitted up to N times
  the limit in the first 50 ms of a burst, never more than the limit by any one;
- while Redis is away the counts stay local (each process still stops a flood at the
  limit) and no request waits on or fails because of Redis.

With any other cache (the embedded default: local memory; Django's own RedisCache) the
counts are the cache's, through its ``add`` and ``incr``.
"""

import logging
import os
import threading
import time
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from redis.exceptions import RedisError, TimeoutError

from ..cache import TolerantRedisCache

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.05
# OPTIONS of Django's RedisCache that are its own, not the Redis connection's.
DJANGO_OPTIONS = {"serializer", "pool_class", "parser_class"}
# INCRBY each key by its hits and give it its time to live if it has none (ARGV holds
# hits and seconds for each key in turn): one command for a whole flush.
ADD_HITS = """
local totals = {}
for i, key in ipairs(KEYS) do
  totals[i] = redis.call('INCRBY', key, ARGV[2 * i - 1])
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return totals
"""


def count_hit(key: str, timeout: int) -> int:
    """Add one to a counter that expires ``timeout`` seconds after its first hit; the
    best known total, this hit included."""
    counts = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(counts, TolerantRedisCache):
        return _shared_counts().hit(counts.make_key(key), timeout)
    return count_in_cache(counts, key, timeout)


def count_in_cache(counts: BaseCache, key: str, timeout: int) -> int:
    """The counter kept by the cache itself."""
    if counts.add(key, 1, timeout):
        return 1
    try:
        return counts.incr(key)
    except ValueError:  # expired between add and incr
        counts.set(key, 1, timeout)
        return 1


@cache
def _shared_counts() -> "SharedCounts":
    """One set of counts per process, on the Redis server the cache writes to (the first
    of its LOCATION, as Django's RedisCache writes), with the cache's OPTIONS."""
    config: dict[str, Any] = settings.CACHES[DEFAULT_CACHE_ALIAS]
    location = config["LOCATION"]
    servers = location.split(",") if isinstance(location, str) else list(location)
    options = {
        name: value
        for name, value in config.get("OPTIONS", {}).items()
        if name not in DJANGO_OPTIONS
    }
    client = redis.Redis.from_url(servers[0], **options)
    return SharedCounts(lambda: client)


class _Count:
    __slots__ = ("known", "pending", "ttl")

    def __init__(self, ttl: int):
        self.known = 0  # the total in Redis at the last flush, every process's hits
        self.pending = 0  # this process's hits since
        self.ttl = ttl


class SharedCounts:
    def __init__(self, get_client):
        # get_client() -> a redis.Redis; called in the flushing thread.
        self._get_client = get_client
        self._script = None
        self._failing = False
        self._reset()
        # A forked process (a gunicorn worker) starts with no counts, no lock held by
        # a thread that did not follow it, and starts its own flushing thread.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, _Count] = {}
        self._dirty: set[str] = set()  # keys with hits not yet sent
        self._expiring: dict[int, list[str]] = {}  # second -> keys that expire in it
        self._swept = int(time.monotonic())
        self._pid: int | None = None
        self._script = None

    def hit(self, key: str, ttl: int) -> int:
        """Count one hit of ``key`` (which expires ``ttl`` seconds after its first);
        the best known total, this hit included."""
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                count = self._counts[key] = _Count(ttl)
                expires = int(time.monotonic() + ttl) + 1
                self._expiring.setdefault(expires, []).append(key)
            count.pending += 1
            self._dirty.add(key)
            total = count.known + count.pending
        if self._pid != os.getpid():
            self._start()
        return total

    def flush(self) -> None:
        """Add the pending hits to Redis and learn the totals (the thread's work, and
        callable directly). Work in proportion to the keys hit since the last flush and
        to those expiring, never to all the keys held."""
        with self._lock:
            self._sweep()
            batch = [(key, self._counts[key].pending, self._counts[key].ttl) for key in self._dirty]
            self._dirty = set()
        if not batch:
            return
        keys = [key for key, _, _ in batch]
        try:
            if self._script is None:
                self._script = self._get_client().register_script(ADD_HITS)
            args = [value for _, hits, ttl in batch for value in (hits, ttl)]
            totals = self._script(keys=keys, args=args)
        except TimeoutError as error:
            # Sent, perhaps counted, no answer: taken as counted. Sending them again
            # could count them twice and refuse visitors who did nothing.
            self._unreachable(error)
            totals = None
        except RedisError as error:  # not sent: kept, sent with the next flush
            self._unreachable(error)
            with self._lock:
                self._dirty.update(key for key in keys if key in self._counts)
            return
        if totals is not None and self._failing:
            log.warning("throttle counts shared through Redis again")
            self._failing = False
        with self._lock:
            for index, (key, sent, _) in enumerate(batch):
                count = self._counts.get(key)
                if count is not None:
                    count.pending -= sent
                    count.known = int(totals[index]) if totals else count.known + sent

    def _sweep(self) -> None:
        now = int(time.monotonic())
        for second in range(self._swept, now + 1):
            for key in self._expiring.pop(second, ()):
                self._counts.pop(key, None)
                self._dirty.discard(key)
        self._swept = now + 1

    def _unreachable(self, error: Exception) -> None:
        if not self._failing:  # once, not every FLUSH_SECONDS
            log.warning("throttle counts not shared, counting locally: %s", error)
            self._failing = True

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._run, name="throttle-counts", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # the thread must outlive any surprise
                log.exception("throttle counts flush failed")
