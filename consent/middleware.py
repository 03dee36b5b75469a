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

Place it after ``csp.middleware.CSPMiddleware`` (its policy must be computed before the
header is written) and before the session, CSRF and messages middleware (it must see
the cookies they set). It never queries the database on a warm cache.
"""

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.cookies import CookieError, Morsel

from csp.constants import NONCE
from django.conf import settings
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponseBase
from django.http.request import split_domain_port
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_http_date_safe

from . import models as m
from .choice import StoredChoice
from .policy import CookieRule, Signals, category_for_cookie, is_allowed, rule_for_cookie
from .siteconfig import SiteBundle, get_bundle

VARY = ("Cookie", "Sec-GPC", "DNT")
CSP_DIRECTIVES = ("script-src", "img-src", "connect-src", "frame-src")
# A process keeps the enforced site's rules this long before it asks the shared cache
# again, so an admin change reaches every process within a second while a request costs
# no cache round trip. Changes made in this process apply at once.
REFRESH_SECONDS = 1.0
# Caps the per-process memo of cookie name -> category: request cookie names come from
# visitors, so the memo must not grow without bound.
MEMO_LIMIT = 2048
EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


class VisitorConsent:
    """``request.consent``: what this visitor allows, for views and templates.

    Reading it marks the response as depending on consent, so it gets ``Vary``. It looks
    at the site's rules only when first asked, so responses that need no enforcement
    (an API's JSON without cookies) cost nothing.
    """

    def __init__(self, request: HttpRequest, site_key: str) -> None:
        self._request = request
        self._site_key = site_key
        self._rules: SiteRules | None = None
        self._choice: StoredChoice | None = None
        self._signals = Signals()
        self.consulted = False

    @property
    def rules(self) -> "SiteRules":
        return self._read()

    def _read(self) -> "SiteRules":
        """The enforced site's rules; the first call also reads the stored choice and the
        signals."""
        if self._rules is None:
            rules = site_rules(self._site_key)
            meta = self._request.META
            self._signals = Signals.from_headers(
                {"Sec-GPC": meta.get("HTTP_SEC_GPC", ""), "DNT": meta.get("HTTP_DNT", "")}
            )
            choice = StoredChoice.parse(self._request.COOKIES.get(rules.cookie_name, ""))
            if choice is not None and choice.is_current(rules.policy_version, self._signals):
                self._choice = choice
            self._rules = rules
        return self._rules

    def allowed(self, category: str) -> bool:
        self.consulted = True
        return self._allowed(category)

    def _allowed(self, category: str) -> bool:
        self._read()
        choices = self._choice.categories if self._choice else None
        return is_allowed(category, choices, self._signals)

    @property
    def choices(self) -> dict[str, bool]:
        """The stored choice per optional category; {} when there is no current choice.
        ``allowed()`` is the answer to act on: GPC and DNT override these."""
        self.consulted = True
        self._read()
        return dict(self._choice.categories) if self._choice else {}

    @property
    def signals(self) -> Signals:
        self.consulted = True
        self._read()
        return self._signals

    @property
    def consent_id(self) -> str | None:
        self.consulted = True
        self._read()
        return self._choice.consent_id if self._choice else None

    @property
    def policy_version(self) -> int | None:
        """The policy version the visitor's choice answers; None without a current one."""
        self.consulted = True
        self._read()
        return self._choice.policy_version if self._choice else None

    def refused(self, category: str) -> bool:
        """Not allowed because of an explicit no: a signal, or the stored choice says 0.
        (No choice yet is not a refusal.)"""
        if self._allowed(category):
            return False
        if self._signals.opt_out:
            return True
        return self._choice is not None and self._choice.categories.get(category) is False


class SiteRules:
    """What the middleware needs from the enforced site's bundle, with per-process memos
    of the answers that only depend on it."""

    def __init__(self, bundle: SiteBundle | None) -> None:
        self.cookie_name = bundle.cookie_name if bundle else "consent"
        # Without a site no choice can be current (versions start at 1): fail closed.
        self.policy_version = bundle.policy_version if bundle else 0
        self.optional_categories = bundle.optional_categories if bundle else ()
        self.rules: tuple[CookieRule, ...] = bundle.rules if bundle else ()
        self.required_names = frozenset(settings.CONSENT_REQUIRED_COOKIES) | {self.cookie_name}
        self.unknown_allowed = unknown_cookies_setting() == "allow"
        hosts = bundle.hosts_by_category if bundle else {}
        self.hosts = hosts
        self.csp_depends_on_consent = any(hosts.get(c) for c in self.optional_categories)
        self._categories: dict[str, str | None] = {}
        self._csp: dict[frozenset[str], dict[str, list]] = {}

    def category_of(self, cookie_name: str) -> str | None:
        try:
            return self._categories[cookie_name]
        except KeyError:
            category = category_for_cookie(cookie_name, self.rules, self.required_names)
            if len(self._categories) < MEMO_LIMIT:
                self._categories[cookie_name] = category
            return category

    def csp_sources(self, consent: VisitorConsent) -> dict[str, list]:
        """Sources to add per directive: our nonce, and the hosts of allowed vendors."""
        allowed = frozenset(c for c in self.optional_categories if consent._allowed(c))
        try:
            return self._csp[allowed]
        except KeyError:
            hosts = [
                host
                for category in (m.REQUIRED, *self.optional_categories)
                if category == m.REQUIRED or category in allowed
                for host in self.hosts.get(category, ())
            ]
            sources = {directive: list(hosts) for directive in CSP_DIRECTIVES}
            sources["script-src"].insert(0, NONCE)
            self._csp[allowed] = sources
            return sources


_sites: dict[str, tuple[float, SiteRules]] = {}
_sites_lock = threading.Lock()


def site_rules(site_key: str) -> SiteRules:
    """The enforced site's rules, from the shared bundle cache at most once a second."""
    entry = _sites.get(site_key)
    now = time.monotonic()
    if entry is not None and entry[0] > now:
        return entry[1]
    rules = SiteRules(get_bundle(site_key))
    with _sites_lock:
        _sites[site_key] = (now + REFRESH_SECONDS, rules)
    return rules


def forget_sites(**kwargs) -> None:
    """Drop this process's copy of every site's rules (a definition or setting changed)."""
    with _sites_lock:
        _sites.clear()


def _forget_on_setting(setting: str, **kwargs) -> None:
    if setting.startswith("CONSENT_") or setting == "CACHES":
        forget_sites()


setting_changed.connect(_forget_on_setting, dispatch_uid="consent-middleware-settings")
for _model in (m.Site, m.Category, m.Vendor, m.CookieDefinition, m.PolicyVersion):
    post_save.connect(forget_sites, sender=_model, dispatch_uid=f"consent-mw-{_model.__name__}")
    post_delete.connect(forget_sites, sender=_model, dispatch_uid=f"consent-mw-{_model.__name__}")


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
        consent = VisitorConsent(request, settings.CONSENT_SITE_KEY)
        request.consent = consent
        response = self.get_response(request)
        varies = consent.consulted
        if response.cookies or "Set-Cookie" in response:
            varies |= remove_unallowed_cookies(response, consent)
        if request.COOKIES:
            expire_refused_cookies(request, response, consent)
        varies |= add_consented_sources(request, response, consent)
        if varies:
            patch_vary_headers(response, VARY)
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
    return consent._allowed(category), True


def expire_refused_cookies(
    request: HttpRequest, response: HttpResponseBase, consent: VisitorConsent
) -> None:
    """Expires the cookies of refused categories the browser still holds. Only the server
    can do this for HttpOnly cookies; the banner does the same for the rest."""
    rules = consent.rules
    refused = {c for c in rules.optional_categories if consent.refused(c)}
    if not refused:
        return
    domains = None
    for name in request.COOKIES:
        if name in response.cookies or rules.category_of(name) not in refused:
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
    """Adds our nonce and the allowed vendors' hosts to the CSP django-csp is about to
    write; True when that policy depends on the visitor's consent."""
    if not response.get("Content-Type", "").startswith("text/html"):
        return False  # browsers apply a CSP to documents only
    if "Content-Security-Policy" in response or getattr(response, "_csp_exempt", False):
        return False
    config = getattr(response, "_csp_config", None)
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    if config is None:
        config = policy.get("DIRECTIVES")
        if config is None or request.path_info.startswith(
            tuple(policy.get("EXCLUDE_URL_PREFIXES") or ())
        ):
            return False
    rules = consent.rules
    sources = rules.csp_sources(consent)
    response._csp_update = _merged_update(
        sources,
        config,
        getattr(response, "_csp_replace", None) or {},
        getattr(response, "_csp_update", None) or {},
    )
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
