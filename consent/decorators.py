"""View decorators for sites that enforce consent server-side."""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers

from .middleware import current_rules

# ConsentMiddleware adds Vary on the way out, after a per-view cache_page has already
# stored the response. A view that caches itself and reads consent (ifconsent,
# request.consent) adds the same Vary first, under cache_page:
#
#     @cache_page(60)
#     @vary_on_consent
#     def product(request): ...
#
# The same headers as the middleware's: the consent cookie and the signals, and the
# region's headers where the site's rules differ by region.


def vary_on_consent(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        patch_vary_headers(response, current_rules().vary)
        return response

    return wrapped
