"""``{% load consent %}`` on a site that installs consent.enforce: the platform's library."""

from consent.templatetags.consent import register

__all__ = ["register"]
