"""The consent-aware Content-Security-Policy of an enforced site's pages.

``script-src``, ``img-src``, ``connect-src`` and ``frame-src`` list our nonce and the
hosts of the vendors in categories the visitor allows (the Required category's always),
so a vendor tag that slipped past the banner is still blocked by the browser.

Vendor hosts are entered in the admin, so each is checked again here against the
host-source grammar the admin validates (``host.example``, ``*.host.example``, an
optional port): a stored value that is anything else (a keyword, a scheme, ``*``, a
``;`` that would start a directive of its own) is left out with a warning. The policy of
the platform's own pages (the console) is never built here: it is the fixed one in
settings.CONTENT_SECURITY_POLICY, which no admin-entered value can widen.
"""

import logging
import re
from collections.abc import Iterable, Mapping

from csp.constants import HEADER, NONCE
from csp.utils import build_policy
from django.http import HttpRequest, HttpResponseBase

from .validators import HOST

logger = logging.getLogger(__name__)

DIRECTIVES = ("script-src", "img-src", "connect-src", "frame-src")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NONCE_MARK = "\x00nonce\x00"  # stands for the request's nonce in a memoised header


def safe_hosts(hosts_by_category: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """The vendor hosts per category that may go into a policy; the rest are logged."""
    safe = {}
    for category, hosts in hosts_by_category.items():
        kept = []
        for host in hosts:
            if host.isascii() and HOST.match(host):  # the admin's grammar, ASCII only
                kept.append(host)
            else:
                logger.warning(
                    "Vendor host %r (category %r) is not a host name: left out of the "
                    "Content-Security-Policy until it is corrected in the admin.",
                    host,
                    category,
                )
        safe[category] = tuple(kept)
    return safe


def sources(hosts: Iterable[str]) -> dict[str, list]:
    """Sources to add per directive: our nonce, and the given (allowed) vendor hosts."""
    hosts = list(hosts)
    added: dict[str, list[object]] = {directive: list(hosts) for directive in DIRECTIVES}
    added["script-src"].insert(0, NONCE)
    return added


def header(added: Mapping[str, list], directives: Mapping, nonce: str | None) -> str | None:
    """The whole header: the configured policy plus ``added``, with NONCE_MARK where the
    nonce goes (the caller memoises it per set of allowed categories and puts the
    request's nonce in). None if it would carry a control character or anything but
    ASCII: then django-csp writes the configured policy alone."""
    update = merged_update(added, directives, {}, {})
    built = build_policy(update=update, nonce=NONCE_MARK if nonce else None)
    if CONTROL.search(built.replace(NONCE_MARK, "")) or not built.isascii():
        logger.warning("Not sending a Content-Security-Policy that is not plain ASCII.")
        return None
    return built


def add_consented_sources(request: HttpRequest, response: HttpResponseBase, consent) -> bool:
    """Adds our nonce and the allowed vendors' hosts to a page's CSP (browsers apply a
    CSP to documents only); True when that policy depends on the visitor's consent.

    A view that adjusted its policy with django-csp's decorators gets the hosts added to
    its own adjustments, for django-csp to build; every other response gets the header
    from a per-site memo, and django-csp leaves a header that is already there alone.
    """
    # django-csp's decorators leave their marks in the response's __dict__; looking
    # there costs far less than getattr() missing on nearly every response.
    marks = response.__dict__
    if HEADER in response or marks.get("_csp_exempt"):
        return False
    rules = consent.rules
    if rules.debug and response.status_code in (404, 500):
        return False  # django-csp leaves Django's debug pages alone
    config = marks.get("_csp_config")
    replace = marks.get("_csp_replace")
    update = marks.get("_csp_update")
    allowed = consent.state.allowed
    if config is None:
        config = rules.csp_directives
        if config is None or request.path_info.startswith(rules.csp_excluded):
            return False
        if replace is None and update is None:
            policy = rules.csp_header(allowed, request.__dict__.get("_csp_nonce"))
            if policy is not None:
                response.headers[HEADER] = policy
            return rules.csp_depends_on_consent
    added = rules.csp_sources(allowed)
    response._csp_update = merged_update(added, config, replace or {}, update or {})
    return rules.csp_depends_on_consent


def merged_update(
    added: Mapping[str, list], config: Mapping, replace: Mapping, update: Mapping
) -> dict[str, list]:
    """django-csp's ``update`` for a response: the view's own update plus ``added``, each
    directive starting from default-src where the policy leaves it to that."""
    merged = dict(update)
    for directive, values in added.items():
        if directive in replace:
            if replace[directive] is None:
                continue  # the view dropped it on purpose: default-src applies
        elif config.get(directive) is None:
            fallback = config.get("default-src")
            if fallback is None:
                continue  # nothing restricts this directive, so nothing to add to
            values = [*_as_list(fallback), *values]
        merged[directive] = [*_as_list(merged.get(directive)), *values]
    return merged


def _as_list(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, Iterable):
        return list(value)
    return [value]
