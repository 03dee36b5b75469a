"""The rules a site enforces, as the platform publishes them and a site reads them back.

The platform builds one ``SiteRuleSet`` per site with the site's bundle (consent.bundles)
and serves its document at ``GET /api/v1/sites/KEY/rules``; a Django site apart from the
platform fetches that document (consent.remote) and reads it back with ``parse``. The
middleware enforces a ``SiteRuleSet`` whichever way it came, so both kinds of site apply
the same rules to the same data.

The document (JSON, one line)::

    {"site": "demo", "policyVersion": 2, "cookieName": "consent",
     "categories": [{"slug": "required", "required": true}, {"slug": "functional"}, ...],
     "cookies": [{"name": "_ga_*", "category": "functional", "domain": "", "path": "/"}],
     "hosts": {"functional": ["www.googletagmanager.com"], ...},
     "privacy": {"default": "opt_in", "rules": {"US-CA": "opt_out", "DE": "opt_in"}}}

``privacy`` (only when some region gets another model than opt-in) says what no answer
means where: under opt-in nothing optional is allowed before the visitor says yes; under
opt-out and notice-only every category is, until the visitor or a signal says no.

Cookies keep the platform's order (exact names win over patterns, then the first pattern
that matches). What comes over the network is input: ``parse`` refuses the whole document
unless every field has its type, its size and, for the values the middleware compares
with (site key, category slugs, the consent cookie's name), its grammar; a refused
document never replaces good rules. Cookie paths and domains and vendor hosts are guarded
again where they are written into a header (consent.cookies, consent.csp), as the
platform's own rows are.
"""

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .regions import CODE as REGION_CODE
from .regions import Region, choose
from .rules import REQUIRED, CookieRule
from .validators import NAME_CHARACTER, SITE_KEY

# Far beyond any real site (the demo's is under 2 KB): a larger answer is not ours.
MAX_BYTES = 1024 * 1024
MAX_ITEMS = 5000
MAX_TEXT = 300
# A category slug as the middleware and the stored choice use it. Looser than the admin's
# grammar (consent.validators.SLUG): a slug stored before that grammar still works.
SLUG = re.compile(r"[A-Za-z0-9_-]{1,64}")
COOKIE_NAME = re.compile(rf"{NAME_CHARACTER}{{1,200}}")
SITE = re.compile(SITE_KEY)
# The privacy models (consent.models.PrivacyModel); under every one but opt-in, no answer
# allows every category.
OPT_IN = "opt_in"
MODELS = frozenset({OPT_IN, "opt_out", "notice"})

logger = logging.getLogger(__name__)


class InvalidRules(ValueError):
    """A rules document that is not one the platform would send."""


@dataclass(frozen=True)
class SiteRuleSet:
    """What enforcement needs to know about one site, and its published document."""

    site: str
    policy_version: int
    cookie_name: str
    categories: tuple[str, ...]  # every slug, in the platform's order
    optional_categories: tuple[str, ...]
    rules: tuple[CookieRule, ...]
    hosts_by_category: Mapping[str, tuple[str, ...]]
    document: bytes = field(repr=False)
    etag: str
    # The middleware gates vendor tags in the site's HTML (consent.autoblock).
    auto_blocking: bool = False
    # The privacy model per region code, and elsewhere (consent.regions.choose).
    privacy_rules: Mapping[str, str] = field(default_factory=dict)
    privacy_default: str = OPT_IN

    @property
    def regional(self) -> bool:
        """Whether what no answer means depends on where the visitor is."""
        return any(model != self.privacy_default for model in self.privacy_rules.values())

    def model_for(self, region: Region) -> str:
        return choose(self.privacy_rules, self.privacy_default, region)[0]

    @classmethod
    def of(
        cls,
        site: str,
        policy_version: int,
        cookie_name: str,
        categories: Iterable[str],
        rules: Iterable[CookieRule],
        hosts_by_category: Mapping[str, Iterable[str]],
        auto_blocking: bool = False,
        privacy_rules: Mapping[str, str] | None = None,
        privacy_default: str = OPT_IN,
    ) -> "SiteRuleSet":
        """The rules of a site, from the platform's models. A value no site would accept
        (a row stored before the admin held it to a grammar) is left out with a warning:
        an unknown cookie is blocked and a missing host is not allowed, so leaving one
        out only ever blocks more."""
        slugs = [slug for slug in categories if _kept("category", slug, SLUG.fullmatch(slug))]
        known = set(slugs)
        document = {
            "site": site,
            "policyVersion": policy_version,
            "cookieName": cookie_name,
            "categories": [
                {"slug": slug, "required": True} if slug == REQUIRED else {"slug": slug}
                for slug in slugs
            ],
            "cookies": [
                {"name": r.name, "category": r.category, "domain": r.domain, "path": r.path}
                for r in rules
                if r.category in known
                and _kept(
                    "cookie definition",
                    r.name,
                    COOKIE_NAME.fullmatch(r.name)
                    and _is_text(r.path)
                    and _is_text(r.domain, blank=True),
                )
            ],
            "hosts": {
                slug: [host for host in hosts if _kept("vendor host", host, _is_text(host))]
                for slug, hosts in hosts_by_category.items()
                if slug in known
            },
        }
        if auto_blocking:
            document["autoBlocking"] = True
        privacy_rules = dict(privacy_rules or {})
        if privacy_default != OPT_IN or any(m != OPT_IN for m in privacy_rules.values()):
            document["privacy"] = {"default": privacy_default, "rules": privacy_rules}
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return cls.parse(body, site)

    @classmethod
    def parse(cls, document: bytes, site: str) -> "SiteRuleSet":
        """The rules in a published document for ``site``; InvalidRules if it is not one."""
        if len(document) > MAX_BYTES:
            raise InvalidRules(f"larger than {MAX_BYTES} bytes")
        try:
            data = json.loads(document)
        except (ValueError, RecursionError):
            raise InvalidRules("not JSON") from None
        if not isinstance(data, dict):
            raise InvalidRules("not an object")
        if data.get("site") != site or not SITE.fullmatch(site):
            raise InvalidRules(f"not the rules of site {site!r}")
        version = data.get("policyVersion")
        if type(version) is not int or not 0 <= version < 2**31:
            raise InvalidRules("policyVersion is not a whole number")
        cookie_name = _text(data, "cookieName")
        if not COOKIE_NAME.fullmatch(cookie_name):
            raise InvalidRules("cookieName is not a cookie name")

        slugs, optional = [], []
        for entry in _items(data, "categories", list):
            slug = _text(entry, "slug")
            required = entry.get("required", False)
            if not SLUG.fullmatch(slug) or slug in slugs or required not in (True, False):
                raise InvalidRules(f"category {slug!r} is not a category")
            if required != (slug == REQUIRED):
                raise InvalidRules("only the Required category is always on")
            slugs.append(slug)
            if not required:
                optional.append(slug)
        known = set(slugs)

        rules = []
        for entry in _items(data, "cookies", list):
            rule = CookieRule(
                _text(entry, "name"),
                _text(entry, "category"),
                _text(entry, "domain", blank=True),
                _text(entry, "path"),
            )
            if rule.category not in known or not COOKIE_NAME.fullmatch(rule.name):
                raise InvalidRules(f"cookie {rule.name!r} is not a cookie definition")
            rules.append(rule)

        hosts: dict[str, tuple[str, ...]] = {}
        count = 0
        for slug, values in _items(data, "hosts", dict).items():
            if slug not in known or not isinstance(values, list):
                raise InvalidRules(f"hosts of {slug!r} are not a category's hosts")
            count += len(values)
            if count > MAX_ITEMS or not all(_is_text(value) for value in values):
                raise InvalidRules("hosts are not host names")
            hosts[slug] = tuple(values)

        auto_blocking = data.get("autoBlocking", False)
        if auto_blocking not in (True, False):
            raise InvalidRules("autoBlocking is not true or false")

        privacy = data.get("privacy", {"default": OPT_IN, "rules": {}})
        privacy_default = privacy.get("default") if isinstance(privacy, dict) else None
        if not isinstance(privacy_default, str) or privacy_default not in MODELS:
            raise InvalidRules("privacy has no default model")
        privacy_rules = _items(privacy, "rules", dict)
        if not all(
            isinstance(code, str) and REGION_CODE.fullmatch(code) and model in MODELS
            for code, model in privacy_rules.items()
        ):
            raise InvalidRules("privacy is not a privacy model per region code")

        digest = hashlib.sha256(document).hexdigest()[:32]
        return cls(
            site=site,
            policy_version=version,
            cookie_name=cookie_name,
            categories=tuple(slugs),
            optional_categories=tuple(optional),
            rules=tuple(rules),
            hosts_by_category=hosts,
            document=document,
            etag=f'"r-{digest}"',
            auto_blocking=auto_blocking,
            privacy_rules=privacy_rules,
            privacy_default=privacy_default,
        )


def _kept(kind: str, value: str, valid: object) -> bool:
    if not valid:
        logger.warning("The %s %r is not published to sites: correct it in the admin.", kind, value)
    return bool(valid)


def _is_text(value: object, blank: bool = False) -> bool:
    return isinstance(value, str) and (blank or value != "") and len(value) <= MAX_TEXT


def _text(entry: object, key: str, blank: bool = False) -> str:
    value = entry.get(key) if isinstance(entry, dict) else None
    if not isinstance(value, str) or not _is_text(value, blank):
        raise InvalidRules(f"{key} is not a text")
    return value


def _items(data: dict, key: str, kind: type[list] | type[dict]) -> Any:
    value: Any = data.get(key)
    if not isinstance(value, kind) or len(value) > MAX_ITEMS:
        raise InvalidRules(f"{key} is not a {kind.__name__} of at most {MAX_ITEMS} items")
    return value
