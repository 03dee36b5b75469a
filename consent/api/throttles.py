"""Throttling per client and site, counted in the shared cache (Redis in production).

A fixed window counted with one increment: DRF's own throttle keeps every request's time
in a list that it reads and writes back whole, two round trips on the consent POST's hot
path and a race between processes.
"""

import time

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from rest_framework.throttling import SimpleRateThrottle

from ..cache import count_hit


def client_ip(request) -> str:
    """The client address; behind NUM_PROXIES trusted proxies, from X-Forwarded-For.
    Without trusted proxies the header is ignored: anyone can write it."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR", "")


class WindowThrottle(SimpleRateThrottle):
    """At most ``num_requests`` per ``duration`` seconds and client, in fixed windows."""

    def get_ident(self, request) -> str:
        # DRF's would take a spoofable X-Forwarded-For when NUM_PROXIES is unset.
        return client_ip(request)

    def allow_request(self, request, view) -> bool:
        return self.allow_key(self.get_cache_key(request, view))

    def allow_key(self, ident: str) -> bool:
        if self.rate is None:
            return True
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

    def allow(self, request, site_key: str) -> bool:
        """For consent.api.recording, which answers without a DRF view."""
        ident = f"{site_key}:{self.get_ident(request)}"
        return self.allow_key(self.cache_format % {"scope": self.scope, "ident": ident})


class ReceiptThrottle(WindowThrottle):
    scope = "receipt"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
