"""Consent enforcement for a Django site apart from the platform, without its database.

Install ``"csp"`` and ``"consent.enforce"`` (not ``"consent"``), add ConsentCSPMiddleware
and ConsentMiddleware, and set ``CONSENT_PLATFORM_URL`` and ``CONSENT_SITE_KEY``: the
site gets ``request.consent``, Set-Cookie filtering, the consent-aware CSP, the template
tags and ``vary_on_consent``, with the rules fetched from the platform (consent.remote).
It has no models, so no tables, and needs Django and django-csp only.
"""
