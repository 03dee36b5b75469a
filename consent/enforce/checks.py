"""System checks for a site in remote mode (consent.remote).

gunicorn does not run system checks: a value that fails here is also read with a safe
fallback at run time, so a mistake is named by ``manage.py check`` and never becomes a
500.
"""

import re
from ipaddress import ip_address
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from ..remote import number_setting
from ..validators import SITE_KEY

SITE = re.compile(SITE_KEY)
LOOPBACK = ("localhost",)


def platform_url_problem(url: str) -> str | None:
    """What is wrong with a CONSENT_PLATFORM_URL, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return "it is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "write the platform's base URL, such as https://consent.example.com"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "it may hold no user, password, query or fragment"
    return None


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@register("consent")
def check_remote(app_configs=None, **kwargs) -> list[CheckMessage]:
    url = getattr(settings, "CONSENT_PLATFORM_URL", "") or ""
    if not url:
        if apps.is_installed("consent"):
            return []  # the platform itself, or a site sharing its database
        return [
            Error(
                "consent.enforce needs CONSENT_PLATFORM_URL, the consent platform's base URL.",
                hint="Set CONSENT_PLATFORM_URL and CONSENT_SITE_KEY (README, Django sites).",
                id="consent.E101",
            )
        ]
    messages: list[CheckMessage] = []
    problem = platform_url_problem(url)
    if problem:
        messages.append(Error(f"CONSENT_PLATFORM_URL {url!r}: {problem}.", id="consent.E102"))
    elif urlsplit(url).scheme == "http" and not is_loopback(urlsplit(url).hostname or ""):
        messages.append(
            Warning(
                "CONSENT_PLATFORM_URL is plain http: anyone on the way can change the rules "
                "this site enforces.",
                hint="Use the platform's https:// URL.",
                id="consent.W101",
            )
        )
    key = getattr(settings, "CONSENT_SITE_KEY", "")
    if not isinstance(key, str) or not SITE.fullmatch(key):
        messages.append(
            Error(
                "CONSENT_SITE_KEY must be the key of the site on the platform "
                "(the SITE_KEY of its embed snippet).",
                id="consent.E103",
            )
        )
    for name in ("CONSENT_REMOTE_REFRESH_SECONDS", "CONSENT_REMOTE_TIMEOUT"):
        if number_setting(name, 1.0) is None:
            messages.append(
                Error(f"{name} must be a number of seconds above 0.", id="consent.E104")
            )
    return messages
