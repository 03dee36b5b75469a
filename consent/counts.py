"""Hit counters shared through Redis without a Redis round trip per hit.

The consent POST's throttle counts every decision per client and site. Asking Redis on
every request cost the endpoint a fifth of its throughput (a second round trip beside
the INSERT, each a pair of context switches on a busy machine). Here each process counts
hits locally and a background thread adds them to Redis every ``FLUSH_SECONDS`` in one
command, learning the totals of every process in return. A hit is judged on the last
known total plus this process's hits since:

- one process alone counts exactly; several may together admit a little more than the
  limit within one flush interval (about the hits all processes take in 50 ms), never
  more than the limit each;
- while Redis is away the counts stay local (each process still stops a flood at the
  limit) and no request waits on or fails because of Redis.
"""

import logging
import os
import threading
import time

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.05
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


class _Count:
    __slots__ = ("expires", "known", "pending", "ttl")

    def __init__(self, ttl: int):
        self.known = 0  # the total in Redis at the last flush, every process's hits
        self.pending = 0  # this process's hits since
        self.ttl = ttl
        self.expires = time.monotonic() + ttl


class SharedCounts:
    def __init__(self, get_client):
        # get_client() -> a redis.Redis; called in the flushing thread.
        self._get_client = get_client
        self._lock = threading.Lock()
        self._counts: dict[str, _Count] = {}
        self._pid = None
        self._script = None
        self._failing = False

    def hit(self, key: str, ttl: int) -> int:
        """Count one hit of ``key`` (which expires ``ttl`` seconds after its first);
        the best known total, this hit included."""
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                count = self._counts[key] = _Count(ttl)
            count.pending += 1
            total = count.known + count.pending
        if self._pid != os.getpid():
            self._start()
        return total

    def flush(self) -> None:
        """Add the pending hits to Redis and learn the totals (the thread's work, and
        callable directly)."""
        now = time.monotonic()
        with self._lock:
            for key in [k for k, c in self._counts.items() if c.expires < now]:
                del self._counts[key]
            batch = [(key, c.pending, c.ttl) for key, c in self._counts.items() if c.pending]
        if not batch:
            return
        keys = [key for key, _, _ in batch]
        try:
            if self._script is None:
                self._script = self._get_client().register_script(ADD_HITS)
            args = [value for _, hits, ttl in batch for value in (hits, ttl)]
            totals = self._script(keys=keys, args=args)
        except RedisError as error:
            if not self._failing:  # once, not every FLUSH_SECONDS
                log.warning("throttle counts not shared, counting locally: %s", error)
                self._failing = True
            return
        if self._failing:
            log.warning("throttle counts shared through Redis again")
            self._failing = False
        with self._lock:
            for (key, sent, _), total in zip(batch, totals, strict=True):
                count = self._counts.get(key)
                if count is not None:
                    count.pending -= sent
                    count.known = int(total)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            # First hit in this process (a forked worker starts without the thread).
            self._pid = os.getpid()
            self._script = None
        threading.Thread(target=self._run, name="throttle-counts", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # the thread must outlive any surprise
                log.exception("throttle counts flush failed")
