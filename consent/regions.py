"""Where a visitor is, as far as the law that applies to them goes.

The region comes only from a header a trusted proxy or CDN sets, and only from headers
the settings name (``CONSENT_COUNTRY_HEADER``: ``CF-IPCountry``,
``CloudFront-Viewer-Country``, ``X-Vercel-IP-Country``...; ``CONSENT_REGION_HEADER``:
the subdivision, ``CloudFront-Viewer-Country-Region``, ``X-Vercel-IP-Country-Region``).
Unset: no detection, every visitor gets the site's default rule. A visitor cannot choose
their law by sending a header the proxy does not set, since the proxy overwrites it.

Codes are ISO 3166: a country (``DE``) or a country's subdivision (``US-CA``). A rule for
a subdivision wins over one for its country, which wins over the site's default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

CODE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
SEPARATORS = re.compile(r"[\s,;]+")

# Opt-in before anything optional runs: the GDPR (EU and the EEA), the UK GDPR and PECR,
# the Swiss FADP.
EU_EEA = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO"
# US states with a comprehensive consumer privacy law in force (opt-out of sale, sharing
# and targeted advertising; GPC honoured as that opt-out in every one of them here).
US_PRIVACY_STATES = (
    "US-CA US-CO US-CT US-DE US-IA US-IN US-KY US-MD US-MN US-MT US-NE US-NH US-NJ US-OR "
    "US-RI US-TN US-TX US-UT US-VA"
)
PRESETS = (
    ("EU/EEA", EU_EEA, "opt_in"),
    ("United Kingdom", "GB", "opt_in"),
    ("Switzerland", "CH", "opt_in"),
    ("US states with privacy laws", US_PRIVACY_STATES, "opt_out"),
)


def parse_codes(text: str) -> list[str]:
    """The region codes in ``text`` (separated by spaces, commas or semicolons), upper
    case, in order, each once; ValidationError naming every code that is no ISO 3166
    country or subdivision."""
    codes = []
    for raw in SEPARATORS.split(text.strip()):
        code = raw.upper()
        if code and code not in codes:
            codes.append(code)
    unknown = [code for code in codes if not is_known(code)]
    if unknown:
        raise ValidationError(
            "Not an ISO 3166 country or subdivision code: %(codes)s (e.g. DE, GB, US-CA).",
            code="unknown_region",
            params={"codes": ", ".join(unknown[:10])},
        )
    return codes


@cache
def is_known(code: str) -> bool:
    """Whether ``code`` is an ISO 3166 country or subdivision. A site that installs the
    enforcement alone (no pycountry) checks the grammar only: a code that is none matches
    no rule, so the site's default applies to it."""
    if not CODE.fullmatch(code):
        return False
    try:
        import pycountry
    except ImportError:
        return True
    if "-" in code:
        return pycountry.subdivisions.get(code=code) is not None
    return pycountry.countries.get(alpha_2=code) is not None


@dataclass(frozen=True)
class Region:
    """Where the proxy says the visitor is: ``country`` ("" when unknown) and the
    subdivision code ("US-CA"; "" when unknown)."""

    country: str = ""
    subdivision: str = ""

    @property
    def code(self) -> str:
        return self.subdivision or self.country


def _header(meta: Mapping[str, Any], name: str) -> str:
    if not name:
        return ""
    return str(meta.get("HTTP_" + name.upper().replace("-", "_"), "")).strip().upper()


def from_meta(meta: Mapping[str, Any]) -> Region:
    """The visitor's region from the trusted headers the settings name; Region() when
    none is named or the value is not a code (Cloudflare's "XX" unknown and "T1" Tor
    included)."""
    country = _header(meta, getattr(settings, "CONSENT_COUNTRY_HEADER", ""))
    if not (len(country) == 2 and is_known(country)):
        return Region()
    sub = _header(meta, getattr(settings, "CONSENT_REGION_HEADER", ""))
    if sub.startswith(country + "-"):
        sub = sub[len(country) + 1 :]
    subdivision = f"{country}-{sub}" if sub and is_known(f"{country}-{sub}") else ""
    return Region(country, subdivision)


def vary_headers() -> list[str]:
    """The request headers an answer that depends on the region varies on."""
    return [
        name
        for name in (
            getattr(settings, "CONSENT_COUNTRY_HEADER", ""),
            getattr(settings, "CONSENT_REGION_HEADER", ""),
        )
        if name
    ]


def choose(rules: Mapping[str, str], default: str, region: Region) -> tuple[str, str]:
    """(privacy model, the code it was chosen by) for ``region``, from ``rules`` (region
    code -> model): the subdivision's rule, else the country's, else ``default`` ("")."""
    for code in (region.subdivision, region.country):
        if code and code in rules:
            return rules[code], code
    return default, ""
