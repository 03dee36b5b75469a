"""Throttling per client network and per site, counted in the shared cache (Redis in
production).

A client is counted by its network, not its address: IPv4 /24 and IPv6 /64 (records
store /24 and /48, through the same ``truncate_ip``). One host commonly holds a whole
IPv6 /64, and addresses within one /24 are easy to rotate through, so counting per
address let one client multiply its limit by the addresses it could use.

A fixed window counted with one increment (consent.api.throttle_counts): DRF's own
throttle keeps every request's time in a list that it reads and writes back whole, two
round trips per request and a race between processes.
"""

import time

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from ..records import truncate_ip
from .throttle_counts import count_hit

IPV4_PREFIX = 24
IPV6_PREFIX = 64


def client_ip(request) -> str:
    """The client address; behind NUM_PROXIES trusted proxies, from X-Forwarded-For.
    Without trusted proxies the header is ignored: anyone can write it."""
    proxies = api_settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR", "")


def client_network(request) -> str:
    """The client's network as the throttles count it (the address itself if it is none
    that ``truncate_ip`` knows)."""
    address = client_ip(request)
    return truncate_ip(address, IPV4_PREFIX, IPV6_PREFIX) or address


class WindowThrottle(SimpleRateThrottle):
    """At most ``num_requests`` per ``duration`` seconds and client network, in fixed
    windows."""

    num_requests: int  # set from the rate by SimpleRateThrottle
    duration: int

    def get_ident(self, request) -> str:
        # DRF's would take a spoofable X-Forwarded-For when NUM_PROXIES is unset, and
        # count single addresses.
        return client_network(request)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view) -> bool:
        return self.allow_key(self.get_cache_key(request, view))

    def allow_key(self, key: str) -> bool:
        """Counts one request against ``key`` (a cache key without its window)."""
        if self.rate is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self.retry_after = self.duration - (now % self.duration)
        return count_hit(f"{key}:{window}", self.duration + 1) <= self.num_requests

    def wait(self) -> float:
        return self.retry_after


class SiteClientThrottle(WindowThrottle):
    """One client network may record a handful of decisions a minute for one site
    (CONSENT_THROTTLE_RATE); a script flooding the records table is stopped without
    touching other sites or networks. (The consent POST is a plain view: it asks
    ``allow_site``.)"""

    scope = "consent"

    def allow_site(self, request, site_key: str) -> bool:
        ident = f"{site_key}:{self.get_ident(request)}"
        return self.allow_key(self.cache_format % {"scope": self.scope, "ident": ident})


class SiteThrottle(WindowThrottle):
    """A ceiling on the decisions one site records from all clients together
    (CONSENT_SITE_THROTTLE_RATE): a flood spread over more networks than the
    per-network limit can see still cannot fill the table faster than this."""

    scope = "consent_site"

    def allow_site(self, request, site_key: str) -> bool:
        return self.allow_key(self.cache_format % {"scope": self.scope, "ident": site_key})


class ReceiptThrottle(WindowThrottle):
    """Reading a receipt (and erasing it): RECEIPT_THROTTLE_RATE per network."""

    scope = "receipt"


class LogThrottle(WindowThrottle):
    """The transparency log's key, heads and proofs: CONSENT_LOG_THROTTLE_RATE per
    network, apart from receipts (an auditor asks for many proofs)."""

    scope = "log"


class ErasureThrottle(WindowThrottle):
    """The public erasure, stricter than reads (CONSENT_ERASURE_THROTTLE_RATE per
    network): whoever holds a consent id can erase its records, so trying ids, or
    erasing many, must be slow."""

    scope = "erasure"
