"""Set-Cookie enforcement for ConsentMiddleware: which cookies a response may set, and
expiring the cookies of refused categories that the browser still holds.

Expiring is bounded per response, whatever the request holds: at most
``CONSENT_EXPIRE_MAX_COOKIES`` cookies and ``CONSENT_EXPIRE_MAX_BYTES`` bytes of
``Set-Cookie`` headers; whatever is left is expired on the next pages. A cookie can only
be expired on the domain it was set for, and a site can set one for its host or any
parent domain up to the registrable domain (RFC 6265 §5.3 step 5): those are the only
variants tried, found with the Public Suffix List, so a long ``Host`` does not multiply
the headers. Every header is checked where it is written: a name, path or domain with
a control character, ``;``, ``,`` or a space (say a definition stored before the admin
validated its fields) is left out with a warning, never sent.
"""

import logging
import re
import time
from collections.abc import Iterable, Iterator
from functools import cache
from http.cookies import CookieError, Morsel
from typing import NamedTuple

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase
from django.http.request import split_domain_port
from django.utils.http import parse_http_date_safe
from publicsuffixlist import PublicSuffixList

from .rules import REQUIRED, CookieRule, rule_for_cookie
from .validators import ATTRIBUTE_CHARACTER, CONTROL, COOKIE_PATH, NAME_CHARACTER

logger = logging.getLogger(__name__)

EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
MAX_COOKIES = 50
# nginx's default header buffer is one page (4 KiB on most machines), so a response
# whose expiries alone filled that would fail behind it.
MAX_BYTES = 4096
# RFC 6265 §4.1.1: a cookie name is a token.
TOKEN = re.compile(rf"{NAME_CHARACTER}+")
# A domain attribute: nothing that could end the attribute or the header.
ATTRIBUTE = re.compile(rf"{ATTRIBUTE_CHARACTER}*")
HEADER_OVERHEAD = len("Set-Cookie: \r\n")


def expiry_path(rule: CookieRule) -> str | None:
    """The path a definition's cookies are expired on; None (with a warning) when the
    stored path could not be written into a header safely."""
    path = rule.path or "/"
    if COOKIE_PATH.match(path):  # the grammar the admin holds paths to
        return path
    logger.warning(
        "Cookie definition %r has a path that cannot go into a Set-Cookie header (%r): "
        "its cookies are not expired until it is corrected in the admin.",
        rule.name,
        path,
    )
    return None


def remove_unallowed_cookies(response: HttpResponseBase, consent) -> bool:
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


def _may_set(name: str, consent) -> tuple[bool, bool]:
    """(may this cookie be set, did the answer depend on consent)."""
    category = consent.rules.category_of(name)
    if category is None:
        return consent.rules.unknown_allowed, False
    if category == REQUIRED:
        return True, False
    return category in consent.state.allowed, True


def _is_deletion(morsel: Morsel) -> bool:
    max_age = str(morsel["max-age"])
    if max_age:
        return max_age.lstrip("-").isdigit() and int(max_age) <= 0
    expires = parse_http_date_safe(morsel["expires"]) if morsel["expires"] else None
    return expires is not None and expires < time.time()


def expire_refused_cookies(request: HttpRequest, response: HttpResponseBase, consent) -> bool:
    """Expires the cookies of refused categories the browser still holds; True if it
    did. Only the server can do this for HttpOnly cookies; the banner does the same for
    the rest. Pages only: a script or an API response may be cached publicly.

    A cookie is expired on all its domains in one response, or left for the next one;
    only a first cookie whose variants alone exceed the byte budget (a very long host)
    gets as many of them as fit, the likeliest first.
    """
    rules = consent.rules
    refused = consent.state.refused
    if not refused:
        return False
    cookies_left, bytes_left = rules.expire_max_cookies, rules.expire_max_bytes
    expired = unsafe = 0
    host: Host | None = None
    for name in request.COOKIES:
        if expired >= cookies_left:
            break
        if rules.category_of(name) not in refused or name in response.cookies:
            continue
        rule = rule_for_cookie(name, rules.rules)
        if rule is None:
            continue
        path = rules.expiry_path(rule)
        if path is None:
            continue
        if not TOKEN.fullmatch(name):
            unsafe += 1  # the browser's name for it cannot go into a header
            continue
        # A __Host- cookie is always host-only on "/" (RFC 6265bis §4.1.3.2).
        if name.startswith("__Host-"):
            variants = _expiries(name, "/", [""], secure=True, budget=bytes_left)
        else:
            host = host or Host.of(request)
            variants = _expiries(name, path, host.cookie_domains(), request.is_secure(), bytes_left)
        if variants.complete or (expired == 0 and variants.morsels):
            for key, morsel in variants.morsels:
                # response.cookies is keyed by name, but each variant is its own
                # Set-Cookie header: the handlers write every Morsel under its own name.
                dict.__setitem__(response.cookies, key, morsel)
            bytes_left -= variants.size
            expired += 1
        if not variants.complete:
            break  # the byte budget is spent: the rest waits for the next page
    if unsafe:
        # Visitors choose their cookie names: a warning here would let any of them write
        # to the log at will.
        logger.debug("Left %d refused cookie(s) with unsafe names unexpired.", unsafe)
    return expired > 0


class Variants(NamedTuple):
    """The expiring Set-Cookie headers of one cookie that fit a budget."""

    morsels: list[tuple[str, Morsel]]
    size: int  # bytes on the wire
    complete: bool  # every domain fitted


def _expiries(name: str, path: str, domains: Iterable[str], secure: bool, budget: int) -> Variants:
    morsels: list[tuple[str, Morsel]] = []
    size = 0
    for domain in domains:
        expiry = _expiry(name, path, domain, secure)
        if expiry is None:
            continue
        morsel, header = expiry
        header_size = len(header) + HEADER_OVERHEAD
        if size + header_size > budget:
            return Variants(morsels, size, complete=False)
        key = name if not domain else f"{name}; Domain={domain}; Path={path}"
        morsels.append((key, morsel))
        size += header_size
    return Variants(morsels, size, complete=True)


class Host:
    """The request's host, as far as cookie domains go."""

    def __init__(self, name: str, registrable: str | None) -> None:
        self.name = name
        self.registrable = registrable

    @classmethod
    def of(cls, request: HttpRequest) -> "Host":
        try:
            name, _port = split_domain_port(request.get_host())
        except DisallowedHost:
            return cls("", None)
        if not name or name.startswith("[") or name.rpartition(".")[2].isdigit():
            return cls(name, None)  # an IP address: only host-only cookies exist
        return cls(name, public_suffix_list().privatesuffix(name))

    def cookie_domains(self) -> Iterator[str]:
        """The domains a cookie the browser sent us can have been set for, most likely
        first: none (host-only), the registrable domain, the host itself, then the
        domains in between. Never a public suffix, nothing above the registrable domain;
        only host-only for an IP address or a host that is itself a public suffix. Made
        one by one: a long host has many, and the budget takes few."""
        yield ""
        registrable = self.registrable
        if registrable is None:
            return
        yield registrable
        if self.name == registrable:
            return
        yield self.name
        between = self.name[: -len(registrable) - 1].split(".")[1:]
        domain = registrable
        for label in reversed(between):
            domain = f"{label}.{domain}"
            yield domain


@cache
def public_suffix_list() -> PublicSuffixList:
    """The list the publicsuffixlist package ships (loaded once per process)."""
    return PublicSuffixList()


def _expiry(name: str, path: str, domain: str, secure: bool) -> tuple[Morsel, str] | None:
    """One expiring Set-Cookie and its header value; None (logged) when it could not be
    written safely."""
    if not ATTRIBUTE.fullmatch(domain):
        logger.warning("Not expiring %r on the unsafe domain %r.", name, domain)
        return None
    morsel: Morsel = Morsel()
    try:
        morsel.set(name, "", '""')
    except CookieError:
        return None  # a name Morsel reserves for an attribute ("Path", "Expires")
    morsel["expires"] = EXPIRED
    morsel["max-age"] = 0
    morsel["path"] = path
    if domain:
        morsel["domain"] = domain
    if secure or name.startswith(("__Secure-", "__Host-")):
        morsel["secure"] = True
    header = morsel.OutputString()
    if CONTROL.search(header) or not header.isascii():  # the last guard
        logger.warning("Not sending an expiry that is not plain ASCII text: %r", header)
        return None
    return morsel, header
