"""Throttling per client and site, counted in the shared cache (Redis in production)."""

from rest_framework.throttling import SimpleRateThrottle


class SiteClientThrottle(SimpleRateThrottle):
    """One client may record a handful of decisions a minute for one site; a script
    flooding the records table is stopped without touching other sites or clients."""

    scope = "consent"

    def get_cache_key(self, request, view):
        site = view.kwargs.get("site_key", "")
        return self.cache_format % {
            "scope": self.scope,
            "ident": f"{site}:{self.get_ident(request)}",
        }


class ReceiptThrottle(SimpleRateThrottle):
    scope = "receipt"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
