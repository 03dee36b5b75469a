"""Server-side enforcement for Django sites.

A banner can only keep scripts from running; ``ConsentMiddleware`` keeps the server
itself from sending what the visitor has not allowed:

- ``request.consent`` answers ``allowed("advertising")`` from the visitor's stored choice
  (consent.choice) and the ``Sec-GPC`` / ``DNT`` / ``ADPC`` headers, through
  ``rules.is_allowed``.
- ``Set-Cookie`` headers for cookies of categories that are not allowed are removed, and
  a refused category's cookies that the browser still sends are expired, a bounded
  number per response (consent.cookies).
- HTML responses get a per-request CSP listing only the hosts of vendors in allowed
  categories: ``consent.csp.ConsentCSPMiddleware``, django-csp's middleware extended
  through its documented ``get_policy_parts``, reads ``request.consent``.
- ``Vary: Cookie, Sec-GPC, DNT, ADPC`` on every response that depends on those, so no shared
  cache serves one visitor's page to another.

It enforces the pages of the site under ``CONSENT_ENFORCED_PATHS`` (path prefixes;
default: the whole site). Everything else is left as it is: on the platform itself that
is the console (the admin, the API docs), whose CSP is the fixed one in settings, so no
vendor host entered in the admin can ever widen it.

The stored choice counts only while it answers the current policy version: after a
material change (a new PolicyVersion) it is no choice at all, exactly as in the banner,
which asks again. No choice is not a refusal, so nothing is expired until the visitor
answers (or sends GPC/DNT).

Place it after ``consent.csp.ConsentCSPMiddleware`` (which writes the policy on the way
out, after this middleware has answered) and before the session, CSRF and messages
middleware (it must see the cookies they set); consent.checks reports any other place.
A view cached with ``cache_page`` that reads consent needs
``consent.decorators.vary_on_consent`` under it, since the view cache stores the
response before any middleware adds ``Vary``; the site-wide cache middleware needs
nothing. It never queries the database on a warm cache,
and an admin change reaches every process as the site's bundle does
(``bundles.RECHECK_SECONDS``).

On a Django site apart from the platform (``CONSENT_PLATFORM_URL`` set; install
``consent.enforce`` instead of ``consent``) the same rules come from the platform's rules
document instead of its database (consent.remote), and the platform's origin is added to
the pages' ``script-src`` and ``connect-src`` (the banner loads from it and posts to it).
With no rules at all it fails closed (``SiteRules``).
"""

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NamedTuple

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers

from . import csp, regions, remote
from .autoblock import gate_response
from .choice import StoredChoice, stored_value
from .cookies import (
    MAX_BYTES,
    MAX_COOKIES,
    expire_refused_cookies,
    expiry_path,
    remove_unallowed_cookies,
)
from .rules import REQUIRED, CookieRule, Signals, category_for_cookie, is_allowed, is_refused
from .ruleset import OPT_IN, SiteRuleSet

VARY = ("Cookie", "Sec-GPC", "DNT", "ADPC")
VARY_HEADER = ", ".join(VARY)
# Caps the per-process memo of cookie name -> category: request cookie names come from
# visitors, so the memo must not grow without bound.
MEMO_LIMIT = 2048
NO_SIGNALS = Signals()


class ConsentState(NamedTuple):
    """What one visitor's stored choice and signals amount to."""

    choice: StoredChoice | None
    signals: Signals
    allowed: frozenset[str]  # optional categories the visitor allows
    refused: frozenset[str]  # refused by a signal or an explicit 0; no choice is neither
    model: str = OPT_IN  # the privacy model that applies where the visitor is


class VisitorConsent:
    """``request.consent``: what this visitor allows, for views and templates.

    Reading it marks the response as depending on consent, so it gets ``Vary``. It looks
    at the site's rules only when first asked, so responses that need no enforcement
    (an API's JSON without cookies) cost nothing.
    """

    _rules: "SiteRules | None" = None
    _state = ConsentState(None, NO_SIGNALS, frozenset(), frozenset())

    def __init__(self, request: HttpRequest) -> None:
        self._request = request
        self.consulted = False
        # Whether the request is one of the enforced site's pages (CONSENT_ENFORCED_PATHS).
        self.enforced = request.path_info.startswith(enforced_paths())

    @property
    def rules(self) -> "SiteRules":
        return self._rules or self._read()

    @property
    def state(self) -> ConsentState:
        if self._rules is None:
            self._read()
        return self._state

    def _read(self) -> "SiteRules":
        rules = self._rules = current_rules()
        meta = self._request.META
        self._state = rules.state_for(
            stored_value(meta.get("HTTP_COOKIE", ""), rules.cookie_name),
            meta.get("HTTP_SEC_GPC", ""),
            meta.get("HTTP_DNT", ""),
            meta.get("HTTP_ADPC", ""),
            rules.model_for(meta),
        )
        return rules

    def allowed(self, category: str) -> bool:
        self.consulted = True
        state = self.state
        return is_allowed(
            category,
            state.choice.categories if state.choice else None,
            state.signals,
            state.model != OPT_IN,
        )

    @property
    def privacy_model(self) -> str:
        """What no answer means for this visitor: "opt_in", "opt_out" or "notice"
        (the site's regional rules, for the region the trusted proxy names)."""
        self.consulted = True
        return self.state.model

    @property
    def choices(self) -> dict[str, bool]:
        """The stored choice per optional category; {} when there is no current choice.
        ``allowed()`` is the answer to act on: GPC and DNT override these."""
        self.consulted = True
        choice = self.state.choice
        return dict(choice.categories) if choice else {}

    @property
    def signals(self) -> Signals:
        self.consulted = True
        return self.state.signals

    @property
    def consent_id(self) -> str | None:
        self.consulted = True
        choice = self.state.choice
        return choice.consent_id if choice else None

    @property
    def policy_version(self) -> int | None:
        """The policy version the visitor's choice answers; None without a current one."""
        self.consulted = True
        choice = self.state.choice
        return choice.policy_version if choice else None


class SiteRules:
    """What the middleware needs from the enforced site's rules and the settings, with
    per-process memos of the answers that only depend on those.

    Without rules (a site in remote mode that never reached the platform, or a
    CONSENT_SITE_KEY the platform does not know) it fails closed: no stored choice is
    current, and every cookie but the required ones is blocked, unknown ones included
    whatever CONSENT_UNKNOWN_COOKIES says."""

    def __init__(self, ruleset: SiteRuleSet | None, platform_origin: str = "") -> None:
        self.ruleset = ruleset
        self.fingerprint = ruleset.etag if ruleset else None
        self.cookie_name = ruleset.cookie_name if ruleset else "consent"
        # Without rules no choice can be current (no stored version is negative).
        self.policy_version = ruleset.policy_version if ruleset else -1
        self.optional_categories = ruleset.optional_categories if ruleset else ()
        self.rules: tuple[CookieRule, ...] = ruleset.rules if ruleset else ()
        self.required_names = frozenset(required_cookies()) | {self.cookie_name}
        self.unknown_allowed = ruleset is not None and unknown_cookies_setting() == "allow"
        self.expire_max_cookies = getattr(settings, "CONSENT_EXPIRE_MAX_COOKIES", MAX_COOKIES)
        self.expire_max_bytes = getattr(settings, "CONSENT_EXPIRE_MAX_BYTES", MAX_BYTES)
        self.hosts = csp.safe_hosts(ruleset.hosts_by_category) if ruleset else {}
        self.auto_blocking = bool(ruleset and ruleset.auto_blocking)
        # A site apart from the platform loads the banner from it and posts decisions to it.
        self.platform_sources = (platform_origin,) if platform_origin else ()
        # ADPC (Advanced Data Protection Control): where the site's consent requests are.
        self.adpc_link = (
            f'<{platform_origin}/api/v1/sites/{ruleset.site}/adpc>; rel="consent-requests"'
            if ruleset
            else ""
        )
        # frame-src: every vendor's hosts, so a held embed loads in place (consent.csp).
        self.frame_hosts = tuple(dict.fromkeys(h for hosts in self.hosts.values() for h in hosts))
        # The configured policy as django-csp completes it; None: no policy, none added.
        self.csp_directives = csp.configured_directives()
        self.csp_depends_on_consent = self.csp_directives is not None and any(
            self.hosts.get(c) for c in self.optional_categories
        )
        self._states: dict[tuple[str, str, str, str, str], ConsentState] = {}
        # What no answer means depends on the region: answers vary on its headers.
        self.regional = bool(ruleset and ruleset.regional)
        self.default_model = ruleset.privacy_default if ruleset else OPT_IN
        self.vary = (*VARY, *regions.vary_headers()) if self.regional else VARY
        self.vary_header = ", ".join(self.vary)
        self._categories: dict[str, str | None] = {}
        self._paths: dict[CookieRule, str | None] = {}
        self._sources: dict[frozenset[str], dict[str, list]] = {}
        self._configs: dict[frozenset[str], csp.FrozenDirectives | None] = {}

    def model_for(self, meta: Mapping[str, Any]) -> str:
        """The privacy model for a request: the site's default unless its rules differ
        by region, then the rule for the region the trusted proxy's headers name."""
        if self.ruleset is None or not self.regional:
            return self.default_model
        return self.ruleset.model_for(regions.from_meta(meta))

    def state_for(
        self, stored: str, gpc: str, dnt: str, adpc: str = "", model: str = OPT_IN
    ) -> ConsentState:
        """The consent state for a consent cookie value, the signal headers and the
        privacy model (what no answer means)."""
        key = (stored, gpc, dnt, adpc, model)
        try:
            return self._states[key]
        except KeyError:
            pass
        signals = (
            Signals.from_headers({"Sec-GPC": gpc, "DNT": dnt, "ADPC": adpc})
            if gpc or dnt or adpc
            else NO_SIGNALS
        )
        choice = StoredChoice.parse(stored)
        if choice is not None and not choice.is_current(self.policy_version, signals):
            choice = None
        choices = choice.categories if choice else None
        optional = self.optional_categories
        default = model != OPT_IN
        state = ConsentState(
            choice,
            signals,
            frozenset(c for c in optional if is_allowed(c, choices, signals, default)),
            frozenset(c for c in optional if is_refused(c, choices, signals)),
            model,
        )
        if len(self._states) < MEMO_LIMIT:
            self._states[key] = state
        return state

    def category_of(self, cookie_name: str) -> str | None:
        try:
            return self._categories[cookie_name]
        except KeyError:
            category = category_for_cookie(cookie_name, self.rules, self.required_names)
            if len(self._categories) < MEMO_LIMIT:
                self._categories[cookie_name] = category
            return category

    def expiry_path(self, rule: CookieRule) -> str | None:
        """The path a definition's cookies are expired on; None when it is unsafe (which
        is logged once per process and bundle, not once per request)."""
        try:
            return self._paths[rule]
        except KeyError:
            path = self._paths[rule] = expiry_path(rule)
            return path

    def csp_sources(self, allowed: frozenset[str]) -> dict[str, list]:
        """Sources to add per directive: our nonce, the hosts of allowed vendors, and
        every vendor's in frame-src."""
        try:
            return self._sources[allowed]
        except KeyError:
            hosts = (
                host
                for category in (REQUIRED, *self.optional_categories)
                if category == REQUIRED or category in allowed
                for host in self.hosts.get(category, ())
            )
            sources = csp.sources(hosts, self.platform_sources, self.frame_hosts)
            # Keyed by sets of the site's categories, which a visitor's cookie names.
            if len(self._sources) < MEMO_LIMIT:
                self._sources[allowed] = sources
            return sources

    def csp_config(self, allowed: frozenset[str]) -> "csp.FrozenDirectives | None":
        """django-csp's ``config`` for a page whose view adjusted nothing: the configured
        directives with ``csp_sources`` merged in, once per set of allowed categories
        (None without a configured policy, which then stays without one)."""
        try:
            return self._configs[allowed]
        except KeyError:
            config = (
                None
                if self.csp_directives is None
                else csp.with_sources(self.csp_directives, self.csp_sources(allowed))
            )
            if len(self._configs) < MEMO_LIMIT:
                self._configs[allowed] = config
            return config


_current: SiteRules | None = None


def current_rules() -> SiteRules:
    """The rules of the site this project enforces (CONSENT_SITE_KEY), kept, memos and
    all, while they are unchanged. Both sources answer from this process's copy, so
    asking on every request costs no cache round trip."""
    global _current
    ruleset = published_rules()()
    rules = _current
    if rules is None or rules.fingerprint != (ruleset.etag if ruleset else None):
        remote_mode = remote.configured()
        rules = _current = SiteRules(ruleset, remote_mode.origin if remote_mode else "")
    return rules


@cache
def published_rules() -> Callable[[], SiteRuleSet | None]:
    """Where the enforced site's rules come from: the platform's rules document in remote
    mode (consent.remote), else the site's bundle, which needs the platform's models."""
    if remote.configured() is not None:
        return remote.current_rules
    if not apps.is_installed("consent"):
        raise ImproperlyConfigured(
            "ConsentMiddleware needs CONSENT_PLATFORM_URL (and CONSENT_SITE_KEY) on a site "
            "apart from the platform, or the consent app installed."
        )
    from .bundles import get_bundle

    site_key = settings.CONSENT_SITE_KEY

    def from_bundle() -> SiteRuleSet | None:
        bundle = get_bundle(site_key)
        return bundle.ruleset if bundle else None

    return from_bundle


def required_cookies() -> list[str]:
    """CONSENT_REQUIRED_COOKIES; by default Django's own session, CSRF, messages and
    language cookies."""
    names = getattr(settings, "CONSENT_REQUIRED_COOKIES", None)
    if names is not None:
        return list(names)
    return [
        settings.SESSION_COOKIE_NAME,
        settings.CSRF_COOKIE_NAME,
        "messages",
        settings.LANGUAGE_COOKIE_NAME,
    ]


@cache
def enforced_paths() -> tuple[str, ...]:
    """The path prefixes of the enforced site's pages (CONSENT_ENFORCED_PATHS)."""
    return tuple(getattr(settings, "CONSENT_ENFORCED_PATHS", None) or ("/",))


def forget_rules(**kwargs) -> None:
    """Drops this process's copy of the rules: a setting they depend on changed."""
    global _current
    _current = None
    enforced_paths.cache_clear()
    published_rules.cache_clear()


def _forget_on_setting(setting: str, **kwargs) -> None:
    if setting.startswith("CONSENT_") or setting in ("CACHES", "CONTENT_SECURITY_POLICY", "DEBUG"):
        forget_rules()


setting_changed.connect(_forget_on_setting, dispatch_uid="consent-middleware-settings")


def unknown_cookies_setting() -> str:
    value = getattr(settings, "CONSENT_UNKNOWN_COOKIES", "block")
    if value not in ("block", "allow"):
        raise ImproperlyConfigured(
            f'CONSENT_UNKNOWN_COOKIES must be "block" or "allow", not {value!r}'
        )
    return value


class ConsentMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        # Remote mode: start asking the platform now, before the first visitor comes.
        remote.feed()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        consent = VisitorConsent(request)
        request.consent = consent  # type: ignore[attr-defined]  # the documented API
        response = self.get_response(request)
        varies = consent.consulted
        if consent.enforced:
            if response.cookies or "Set-Cookie" in response:
                varies |= remove_unallowed_cookies(response, consent)
            if response.get("Content-Type", "").startswith("text/html"):
                rules = consent.rules
                if rules.adpc_link and "Link" not in response:
                    response.headers["Link"] = rules.adpc_link
                if request.COOKIES:
                    varies |= expire_refused_cookies(request, response, consent)
                # ConsentCSPMiddleware adds the allowed vendors' hosts on the way out.
                varies |= rules.csp_depends_on_consent
                if rules.auto_blocking:
                    # Vendor tags held back in the markup itself (consent.autoblock), so the
                    # browser never requests them; the page depends on consent either way.
                    allowed = consent.state.allowed | {REQUIRED}
                    gate_response(response, rules.hosts, allowed)
                    varies = True
        if varies:
            rules = consent.rules
            if "Vary" in response:
                patch_vary_headers(response, rules.vary)
            else:
                response.headers["Vary"] = rules.vary_header
        return response
