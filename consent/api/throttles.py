"""Throttling per client and site, counted in the shared cache (Redis in production).

A fixed window counted with one increment: DRF's own throttle keeps every request's time
in a list that it reads and writes back whole, two round trips on the consent POST's hot
path and a race between processes.
"""

import time

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from rest_framework.throttling import SimpleRateThrottle

from ..cache import count_hit


class WindowThrottle(SimpleRateThrottle):
    """At most ``num_requests`` per ``duration`` seconds and client, in fixed windows."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        now = time.time()
        window = int(now // self.duration)
        self.retry_after = self.duration - (now % self.duration)
        hits = count_hit(caches[DEFAULT_CACHE_ALIAS], f"{ident}:{window}", self.duration + 1)
        return hits <= self.num_requests

    def wait(self) -> float:
        return self.retry_after


class SiteClientThrottle(WindowThrottle):
    """One client may record a handful of decisions a minute for one site; a script
    flooding the records table is stopped without touching other sites or clients."""

    scope = "consent"

    def get_cache_key(self, request, view):
        site = view.kwargs.get("site_key", "")
        return self.cache_format % {
            "scope": self.scope,
            "ident": f"{site}:{self.get_ident(request)}",
        }


class ReceiptThrottle(WindowThrottle):
    scope = "receipt"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
