"""View decorators for sites that enforce consent server-side."""

from django.views.decorators.vary import vary_on_headers

from .middleware import VARY

# ConsentMiddleware adds Vary on the way out, after a per-view cache_page has already
# stored the response. A view that caches itself and reads consent (ifconsent,
# request.consent) adds the same Vary first, under cache_page:
#
#     @cache_page(60)
#     @vary_on_consent
#     def product(request): ...
vary_on_consent = vary_on_headers(*VARY)
