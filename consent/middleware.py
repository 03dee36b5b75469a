"""Server-side enforcement for Django sites.

A banner can only keep scripts from running; ``ConsentMiddleware`` keeps the server
itself from sending what the visitor has not allowed:

- ``request.consent`` answers ``allowed("advertising")`` from the visitor's stored choice
  (consent.choice) and the ``Sec-GPC`` / ``DNT`` headers, through ``policy.is_allowed``.
- ``Set-Cookie`` headers for cookies of categories that are not allowed are removed;
  cookies no definition knows are removed too unless ``CONSENT_UNKNOWN_COOKIES = "allow"``.
  Required cookies (``CONSENT_REQUIRED_COOKIES``, the consent cookie, the Required
  category's definitions) always pass, and so does a view's own deletion of a cookie.
- A refused category's cookies that the browser still sends are expired, on the host and
  every parent domain and on the definition's path, HttpOnly ones included.
- HTML responses get a per-request CSP (django-csp): ``script-src``, ``img-src``,
  ``connect-src`` and ``frame-src`` list only the hosts of vendors in allowed categories,
  so a vendor tag that slipped past the banner is still blocked by the browser.
- ``Vary: Cookie, Sec-GPC, DNT`` on every response that depends on those, so no shared
  cache serves one visitor's page to another.

The stored choice counts only while it answers the current policy version: after a
material change (a new PolicyVersion) it is no choice at all, exactly as in the banner,
which asks again. No choice is not a refusal, so nothing is expired until the visitor
answers (or sends GPC/DNT).

Place it after ``csp.middleware.CSPMiddleware`` (its policy must be computed before the
header is written) and before the session, CSRF and messages middleware (it must see
the cookies they set); it refuses to start otherwise. A view cached with ``cache_page``
that reads consent needs ``consent.decorators.vary_on_consent`` under it, since the view
cache stores the response before any middleware adds ``Vary``; the site-wide cache
middleware needs nothing. It never queries the database on a warm cache, and an admin
change reaches every process as the site's bundle does (``siteconfig.RECHECK_SECONDS``).
"""

import time
from collections.abc import Callable, Iterable, Mapping
from http.cookies import CookieError, Morsel
from typing import NamedTuple

from csp.constants import HEADER, NONCE
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponseBase
from django.http.request import split_domain_port
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_http_date_safe

from . import models as m
from .choice import StoredChoice
from .policy import CookieRule, Signals, category_for_cookie, is_allowed, rule_for_cookie
from .siteconfig import SiteBundle, get_bundle

VARY = ("Cookie", "Sec-GPC", "DNT")
VARY_HEADER = ", ".join(VARY)
CSP_DIRECTIVES = ("script-src", "img-src", "connect-src", "frame-src")
# Caps the per-process memo of cookie name -> category: request cookie names come from
# visitors, so the memo must not grow without bound.
MEMO_LIMIT = 2048
EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
NO_SIGNALS = Signals()
NONCE_MARK = "\x00nonce\x00"  # stands for the request's nonce in a memoised header


class ConsentState(NamedTuple):
    """What one visitor's stored choice and signals amount to."""

    choice: StoredChoice | None
    signals: Signals
    allowed: frozenset[str]  # optional categories the visitor allows
    refused: frozenset[str]  # refused by a signal or an explicit 0; no choice is neither


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
            self._request.COOKIES.get(rules.cookie_name, ""),
            meta.get("HTTP_SEC_GPC", ""),
            meta.get("HTTP_DNT", ""),
        )
        return rules

    def allowed(self, category: str) -> bool:
        self.consulted = True
        state = self.state
        return is_allowed(category, state.choice and state.choice.categories, state.signals)

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
    """What the middleware needs from the enforced site's bundle and the settings, with
    per-process memos of the answers that only depend on those."""

    def __init__(self, bundle: SiteBundle | None) -> None:
        self.fingerprint = (bundle.config_etag, bundle.hosts_by_category) if bundle else None
        self.cookie_name = bundle.cookie_name if bundle else "consent"
        # Without a site no choice can be current (versions start at 1): fail closed.
        self.policy_version = bundle.policy_version if bundle else 0
        self.optional_categories = bundle.optional_categories if bundle else ()
        self.rules: tuple[CookieRule, ...] = bundle.rules if bundle else ()
        self.required_names = frozenset(settings.CONSENT_REQUIRED_COOKIES) | {self.cookie_name}
        self.unknown_allowed = unknown_cookies_setting() == "allow"
        self.hosts = bundle.hosts_by_category if bundle else {}
        self.csp_depends_on_consent = any(self.hosts.get(c) for c in self.optional_categories)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
        self.csp_directives = policy.get("DIRECTIVES")
        self.csp_excluded = tuple(policy.get("EXCLUDE_URL_PREFIXES") or ())
        self.debug = settings.DEBUG
        self._states: dict[tuple[str, str, str], ConsentState] = {}
        self._categories: dict[str, str | None] = {}
        self._sources: dict[frozenset[str], dict[str, list]] = {}
        self._headers: dict[tuple[frozenset[str], bool], str] = {}

    def state_for(self, stored: str, gpc: str, dnt: str) -> ConsentState:
        """The consent state for a consent cookie value and the two signal headers."""
        key = (stored, gpc, dnt)
        try:
            return self._states[key]
        except KeyError:
            pass
        signals = Signals.from_headers({"Sec-GPC": gpc, "DNT": dnt}) if gpc or dnt else NO_SIGNALS
        choice = StoredChoice.parse(stored)
        if choice is not None and not choice.is_current(self.policy_version, signals):
            choice = None
        choices = choice.categories if choice else None
        optional = self.optional_categories
        state = ConsentState(
            choice,
            signals,
            frozenset(c for c in optional if is_allowed(c, choices, signals)),
            frozenset(
                c
                for c in optional
                if not is_allowed(c, choices, signals)
                and (signals.opt_out or (choices is not None and choices.get(c) is False))
            ),
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

    def csp_sources(self, allowed: frozenset[str]) -> dict[str, list]:
        """Sources to add per directive: our nonce, and the hosts of allowed vendors."""
        try:
            return self._sources[allowed]
        except KeyError:
            hosts = [
                host
                for category in (m.REQUIRED, *self.optional_categories)
                if category == m.REQUIRED or category in allowed
                for host in self.hosts.get(category, ())
            ]
            sources = {directive: list(hosts) for directive in CSP_DIRECTIVES}
            sources["script-src"].insert(0, NONCE)
            self._sources[allowed] = sources
            return sources

    def csp_header(self, allowed: frozenset[str], nonce: str | None) -> str:
        """The whole header: the configured policy plus ``csp_sources``. Built once per
        set of allowed categories, where django-csp would build it on every request."""
        key = (allowed, bool(nonce))
        try:
            header = self._headers[key]
        except KeyError:
            update = _merged_update(self.csp_sources(allowed), self.csp_directives, {}, {})
            header = build_policy(update=update, nonce=NONCE_MARK if nonce else None)
            self._headers[key] = header
        return header.replace(NONCE_MARK, nonce) if nonce else header


_current: SiteRules | None = None


def current_rules() -> SiteRules:
    """The rules of the site this project enforces (CONSENT_SITE_KEY), kept, memos and
    all, while its bundle is unchanged. ``get_bundle`` answers from this process's copy,
    so asking it on every request costs no cache round trip."""
    global _current
    bundle = get_bundle(settings.CONSENT_SITE_KEY)
    rules = _current
    if (
        rules is None
        or bundle is None
        or rules.fingerprint != (bundle.config_etag, bundle.hosts_by_category)
    ):
        rules = _current = SiteRules(bundle)
    return rules


def forget_rules(**kwargs) -> None:
    """Drops this process's copy of the rules: a setting they depend on changed."""
    global _current
    _current = None


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


def _position(middleware: list[str], path: str) -> int | None:
    return middleware.index(path) if path in middleware else None


def check_order(middleware: list[str], own: str) -> None:
    """A wrong position fails silently (a CSP without consent, unfiltered cookies), so
    it stops the server instead."""
    position = _position(middleware, own)
    if position is None:
        return
    csp = _position(middleware, "csp.middleware.CSPMiddleware")
    if csp is not None and csp > position:
        raise ImproperlyConfigured(
            f"{own} must come after csp.middleware.CSPMiddleware in MIDDLEWARE: the "
            "consent-aware policy has to be in place before django-csp writes the header."
        )
    for cookie_setter in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ):
        other = _position(middleware, cookie_setter)
        if other is not None and other < position:
            raise ImproperlyConfigured(
                f"{own} must come before {cookie_setter} in MIDDLEWARE, so that it sees "
                "the cookies that middleware sets."
            )


class ConsentMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        check_order(list(settings.MIDDLEWARE), f"{__name__}.{type(self).__qualname__}")
        unknown_cookies_setting()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        consent = VisitorConsent(request)
        request.consent = consent
        response = self.get_response(request)
        varies = consent.consulted
        if response.cookies or "Set-Cookie" in response:
            varies |= remove_unallowed_cookies(response, consent)
        is_page = response.get("Content-Type", "").startswith("text/html")
        if is_page and request.COOKIES:
            varies |= expire_refused_cookies(request, response, consent)
        if is_page:
            varies |= add_consented_sources(request, response, consent)
        if varies:
            if "Vary" in response:
                patch_vary_headers(response, VARY)
            else:
                response.headers["Vary"] = VARY_HEADER
        return response


def _is_deletion(morsel: Morsel) -> bool:
    max_age = str(morsel["max-age"])
    if max_age:
        return max_age.lstrip("-").isdigit() and int(max_age) <= 0
    expires = parse_http_date_safe(morsel["expires"]) if morsel["expires"] else None
    return expires is not None and expires < time.time()


def remove_unallowed_cookies(response: HttpResponseBase, consent: VisitorConsent) -> bool:
    """Removes the Set-Cookie headers the visitor has not allowed; True when the outcome
    depended on the visitor's consent."""
    depended = False
    for key, morsel in list(response.cookies.items()):
        keep, optional = _may_set(morsel.key, consent)
        depended |= optional
        if not keep and not _is_deletion(morsel):
            del response.cookies[key]
    # A raw header bypasses response.cookies; Django sends it as well.
    raw = response.headers.get("Set-Cookie")
    if raw is not None:
        keep, optional = _may_set(raw.partition("=")[0].strip(), consent)
        depended |= optional
        if not keep:
            del response.headers["Set-Cookie"]
    return depended


def _may_set(name: str, consent: VisitorConsent) -> tuple[bool, bool]:
    """(may this cookie be set, did the answer depend on consent)."""
    category = consent.rules.category_of(name)
    if category is None:
        return consent.rules.unknown_allowed, False
    if category == m.REQUIRED:
        return True, False
    return category in consent.state.allowed, True


def expire_refused_cookies(
    request: HttpRequest, response: HttpResponseBase, consent: VisitorConsent
) -> bool:
    """Expires the cookies of refused categories the browser still holds; True if it
    did. Only the server can do this for HttpOnly cookies; the banner does the same for
    the rest. Pages only: a script or an API response may be cached publicly."""
    rules = consent.rules
    refused = consent.state.refused
    if not refused:
        return False
    domains = None
    for name in request.COOKIES:
        if rules.category_of(name) not in refused or name in response.cookies:
            continue
        rule = rule_for_cookie(name, rules.rules)
        if rule is None:
            continue
        if domains is None:
            domains = cookie_domains(request)
        # A __Host- cookie is always host-only on "/" (RFC 6265bis §4.1.3.2).
        if name.startswith("__Host-"):
            _expire(response, name, "/", "", secure=True)
            continue
        for domain in domains:
            _expire(response, name, rule.path or "/", domain, request.is_secure())
    return domains is not None


def cookie_domains(request: HttpRequest) -> list[str]:
    """Every domain a cookie the browser sent us can have been set for: none (host-only),
    the host itself and each parent domain. A definition's declared domain is one of
    these whenever the browser would send that cookie here at all."""
    try:
        host, _port = split_domain_port(request.get_host())
    except DisallowedHost:
        return [""]
    labels = host.split(".")
    if not host or labels[-1].isdigit() or host.startswith("["):
        return [""]  # an IP address: only host-only cookies exist
    return ["", *(".".join(labels[i:]) for i in range(len(labels) - 1))]


def _expire(response: HttpResponseBase, name: str, path: str, domain: str, secure: bool) -> None:
    morsel = Morsel()
    try:
        morsel.set(name, "", '""')
    except CookieError:
        return  # not a name a Set-Cookie header can carry
    morsel["expires"] = EXPIRED
    morsel["max-age"] = 0
    morsel["path"] = path
    if domain:
        morsel["domain"] = domain
    if secure or name.startswith(("__Secure-", "__Host-")):
        morsel["secure"] = True
    # response.cookies is keyed by name, but each variant is its own Set-Cookie header:
    # the handlers write every Morsel under the Morsel's own name.
    key = name if not domain else f"{name}; Domain={domain}; Path={path}"
    dict.__setitem__(response.cookies, key, morsel)


def add_consented_sources(
    request: HttpRequest, response: HttpResponseBase, consent: VisitorConsent
) -> bool:
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
            nonce = request.__dict__.get("_csp_nonce")
            response.headers[HEADER] = rules.csp_header(allowed, nonce)
            return rules.csp_depends_on_consent
    sources = rules.csp_sources(allowed)
    response._csp_update = _merged_update(sources, config, replace or {}, update or {})
    return rules.csp_depends_on_consent


def _merged_update(
    sources: Mapping[str, list], config: Mapping, replace: Mapping, update: Mapping
) -> dict[str, list]:
    merged = dict(update)
    for directive, values in sources.items():
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
