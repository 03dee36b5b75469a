"""The one place that decides what is allowed.

``category_for_cookie`` says which category a cookie belongs to; ``is_allowed`` says
whether a category is allowed for a visitor and ``is_refused`` whether the visitor (or a
signal) said no; ``is_current`` whether a stored choice still answers the site's
question. The API, the middleware, the template tags and the admin's scan report call
these and decide nothing of their own.

It needs Django only, never the platform's models: a site apart from the platform
enforces with it (consent.enforce); the models take ``REQUIRED`` and ``Method`` from here.
"""

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import TextChoices

# The category every site has and no visitor can refuse.
REQUIRED = "required"


class Method(TextChoices):
    """How a decision was made."""

    ACCEPT_ALL = "accept_all", "Accept all"
    REJECT_ALL = "reject_all", "Reject all"
    CUSTOM = "custom", "Custom"
    GPC = "gpc", "Global Privacy Control"
    DNT = "dnt", "Do Not Track"
    ADPC = "adpc", "Advanced Data Protection Control"
    WITHDRAW = "withdraw", "Withdrawal"

    @property
    def is_signal(self) -> bool:
        """Made by an opt-out signal the browser sent (Sec-GPC, DNT, ADPC), not a click."""
        return self in Method.signal_methods()

    @property
    def refuses_all(self) -> bool:
        """Every optional category is off in such a decision."""
        return self in Method.all_off_methods()

    @classmethod
    def signal_methods(cls) -> frozenset["Method"]:
        """A browser signal decided: everything optional is off while it is sent."""
        return frozenset({cls.GPC, cls.DNT, cls.ADPC})

    @classmethod
    def all_off_methods(cls) -> frozenset["Method"]:
        """Methods that allow no optional category."""
        return frozenset({cls.REJECT_ALL, cls.GPC, cls.DNT, cls.ADPC})


def is_signal(value: str) -> bool:
    """Only the exact value "1" is a signal (GPC spec §3, DNT §5.2); "0", "true" or
    garbage are not. A header a client sent twice reaches us joined by commas
    (RFC 9110 §5.3: "1, 1"); that is still the signal when every member is "1"."""
    if value == "1":
        return True
    return bool(value) and all(member.strip() == "1" for member in value.split(","))


def is_adpc_refusal(value: str) -> bool:
    """An ADPC header (Advanced Data Protection Control, https://www.dataprotectioncontrol.org/spec/)
    that withdraws every consent or objects to all processing: ``withdraw=*`` or
    ``object=*`` among its comma-separated directives (``consent=a b, withdraw=*``)."""
    if not value or len(value) > 1024:
        return False
    for directive in value.split(","):
        name, _, ids = directive.strip().partition("=")
        if name.strip().lower() in ("withdraw", "object") and "*" in ids.split():
            return True
    return False


@dataclass(frozen=True)
class Signals:
    """Universal opt-out signals a browser sent with the request."""

    gpc: bool = False
    dnt: bool = False
    adpc: bool = False  # ADPC: withdraw=* or object=*

    @property
    def opt_out(self) -> bool:
        return self.gpc or self.dnt or self.adpc

    @property
    def method(self) -> "Method | None":
        """The method a decision made under these signals is recorded with."""
        if self.gpc:
            return Method.GPC
        if self.dnt:
            return Method.DNT
        return Method.ADPC if self.adpc else None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> "Signals":
        return cls(
            gpc=is_signal(headers.get("Sec-GPC", "")),
            dnt=is_signal(headers.get("DNT", "")),
            adpc=is_adpc_refusal(headers.get("ADPC", "")),
        )

    @classmethod
    def from_meta(cls, meta: Mapping[str, str]) -> "Signals":
        """The same from a WSGI environ (request.META), without building request.headers."""
        return cls.from_headers(
            {
                "Sec-GPC": meta.get("HTTP_SEC_GPC", ""),
                "DNT": meta.get("HTTP_DNT", ""),
                "ADPC": meta.get("HTTP_ADPC", ""),
            }
        )


@dataclass(frozen=True)
class CookieRule:
    name: str
    category: str
    domain: str = ""
    path: str = "/"

    def matches(self, cookie_name: str) -> bool:
        if "*" in self.name:
            return fnmatch.fnmatchcase(cookie_name, self.name)
        return cookie_name == self.name


def is_allowed(
    category: str, choices: Mapping[str, bool] | None, signals: Signals, default: bool = False
) -> bool:
    """Required is always allowed. GPC and DNT are opt-outs of sale/sharing and targeted
    advertising (CPRA regs §7025): they override any stored opt-in. Otherwise the stored
    answer; no answer means ``default``: no under opt-in, yes under the opt-out and
    notice-only models (consent.ruleset)."""
    if category == REQUIRED:
        return True
    if signals.opt_out:
        return False
    answer = choices.get(category) if choices else None
    return default if answer is None else answer is True


def is_refused(category: str, choices: Mapping[str, bool] | None, signals: Signals) -> bool:
    """Refused by a signal or by an explicit stored no. No choice yet is neither allowed
    nor refused: nothing the visitor holds is expired until they answer."""
    if category == REQUIRED:
        return False
    return signals.opt_out or (choices is not None and choices.get(category) is False)


def is_current(
    choice_version: int, choice_method: str, policy_version: int, signals: Signals
) -> bool:
    """Whether a stored choice still answers the site's question, in the banner as on the
    server: a choice for another policy version is no choice (a material change asks
    again), and a refusal recorded because of GPC/DNT lapses with the signal."""
    if choice_version != policy_version:
        return False
    return choice_method not in Method.signal_methods() or signals.opt_out


def rule_for_cookie(name: str, rules: Iterable[CookieRule]) -> CookieRule | None:
    """The definition a cookie falls under: exact names win over patterns."""
    pattern_match = None
    for rule in rules:
        if rule.name == name:
            return rule
        if pattern_match is None and "*" in rule.name and rule.matches(name):
            pattern_match = rule
    return pattern_match


def category_for_cookie(
    name: str, rules: Iterable[CookieRule], required_names: Iterable[str] = ()
) -> str | None:
    """The category of a cookie: exact names win over patterns; None when unknown."""
    if name in required_names:
        return REQUIRED
    rule = rule_for_cookie(name, rules)
    return rule.category if rule else None
