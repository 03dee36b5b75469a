"""The consent-aware Content-Security-Policy of an enforced site's pages.

``script-src``, ``img-src`` and ``connect-src`` list our nonce and the hosts of the
vendors in categories the visitor allows (the Required category's always), so a vendor
tag that slipped past the banner is still blocked by the browser. ``frame-src`` lists
every vendor's hosts: an embed the banner holds back (a placeholder in its box) must be
able to load in place when the visitor clicks "Load this once" or allows its category,
and a frame cannot be let through a policy the page already has. Frames are held by the
server's rewrite and the banner; the scripts that would build ad frames at run time are
still held by ``script-src``.

A policy cannot change once its page has loaded, so after the visitor allows a category
in the page, what its tags load next (a script without our nonce, a pixel, a beacon) is
blocked by the policy the page came with; the banner sees the violation and reloads the
page once, after the decision was sent, so the tags run under the new policy.

Vendor hosts are entered in the admin, so each is checked again here against the
host-source grammar the admin validates (``host.example``, ``*.host.example``, an
optional port): a stored value that is anything else (a keyword, a scheme, ``*``, a
``;`` that would start a directive of its own) is left out with a warning. The policy of
the platform's own pages (the console) is never built here: it is the fixed one in
settings.CONTENT_SECURITY_POLICY, which no admin-entered value can widen.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict

from csp.constants import HEADER, NONCE
from csp.middleware import CSPMiddleware, PolicyParts
from csp.utils import build_policy, default_config
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from .validators import HOST

logger = logging.getLogger(__name__)

DIRECTIVES = ("script-src", "img-src", "connect-src", "frame-src")


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


def sources(
    hosts: Iterable[str], platform: Iterable[str] = (), frames: Iterable[str] | None = None
) -> dict[str, list]:
    """Sources to add per directive: our nonce, the given (allowed) vendor hosts and, on
    a site apart from the platform, the platform's origin, which serves the banner's
    script and takes its decisions. ``frames``: every vendor host, for ``frame-src``
    (the allowed ones where not given)."""
    hosts = list(hosts)
    added: dict[str, list[object]] = {directive: list(hosts) for directive in DIRECTIVES}
    if frames is not None:
        added["frame-src"] = list(frames)
    added["script-src"].insert(0, NONCE)
    for directive in ("script-src", "connect-src"):
        added[directive].extend(platform)
    return added


class FrozenDirectives(Mapping):
    """A policy's directives that never change once built, memoised per set of allowed
    categories. django-csp deep-copies the parts of every policy it builds
    (``dataclasses.asdict``); copying these would cost more than the rest of the
    middleware, and being immutable they can be shared as they are."""

    def __init__(self, directives: Mapping[str, Iterable]) -> None:
        self._directives = {name: tuple(values) for name, values in directives.items()}

    def __getitem__(self, name: str) -> tuple:
        return self._directives[name]

    def __iter__(self):
        return iter(self._directives)

    def __len__(self) -> int:
        return len(self._directives)

    def __deepcopy__(self, memo: dict) -> "FrozenDirectives":
        return self


class ConsentCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, extended where its documentation says to extend it
    (``get_policy_parts``): on the enforced site's pages (ConsentMiddleware set
    ``request.consent``, the path is under CONSENT_ENFORCED_PATHS, the response is a
    page: browsers apply a CSP to documents only) the policy gains our nonce and the hosts
    of the vendors the visitor allows: as a config memoised per set of allowed categories
    when the view adjusted nothing, else added to the view's update. Everywhere else, the
    console included, the configured policy is left exactly as it is.

    Use it in place of ``csp.middleware.CSPMiddleware`` (a system check says so).
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        consent = getattr(request, "consent", None)
        if (
            report_only
            or consent is None
            or not consent.enforced
            or not response.get("Content-Type", "").startswith("text/html")
        ):
            return parts
        rules, allowed = consent.rules, consent.state.allowed
        if parts.config is None and parts.replace is None and parts.update is None:
            # The common case: the whole policy but the nonce, built once per set of
            # allowed categories (django-csp would merge the configured directives and
            # an update for every page).
            parts.config = rules.csp_config(allowed)
        else:
            # A view's own config is used as it is (django-csp completes only the
            # settings' directives with its defaults).
            configured = parts.config if parts.config is not None else rules.csp_directives
            parts.update = merged_update(
                rules.csp_sources(allowed),
                configured or {},
                replace=parts.replace or {},
                update=parts.update or {},
            )
        return parts

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        response = super().process_response(request, response)
        policy = response.headers.get(HEADER)
        # Printable ASCII: none of validators.CONTROL's characters, nothing beyond ASCII.
        if policy is not None and not (policy.isascii() and policy.isprintable()):
            # A last guard: whatever was stored, no header carries a control character.
            logger.warning("Not sending a Content-Security-Policy that is not plain ASCII.")
            del response.headers[HEADER]
            fixed = PolicyParts(nonce=super().get_policy_parts(request, response).nonce)
            response.headers[HEADER] = build_policy(**asdict(fixed))
        return response


def configured_directives() -> dict | None:
    """settings.CONTENT_SECURITY_POLICY's directives completed with django-csp's defaults
    (default-src 'self' when it names none), as django-csp reads them for every page
    whose view set no config; None when they make no policy at all (no setting, or
    DIRECTIVES None)."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
    return default_config(policy.get("DIRECTIVES", {})) if policy else None


def with_sources(directives: Mapping, added: Mapping[str, list]) -> FrozenDirectives:
    """``directives`` (``configured_directives``) with ``added``: a config that builds
    the same policy as ``directives`` with ``merged_update``'s update. A directive the
    policy leaves to default-src (None here) is one ``merged_update`` starts from
    default-src's sources, so its update is the whole directive."""
    config = dict(directives)
    for directive, values in merged_update(added, config, replace={}, update={}).items():
        config[directive] = [*_as_list(config.get(directive)), *values]
    return FrozenDirectives(
        {name: _as_list(value) for name, value in config.items() if value is not None}
    )


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
    """A directive's value as django-csp's build_policy reads it: a set sorted, a list
    or tuple as it is, anything else (a string, a lazy string, a boolean) one value."""
    if value is None:
        return []
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
