"""Everything a visitor-facing request needs to know about a site, built once and cached.

The script, config and rules endpoints, the consent POST and the middleware read a
``SiteBundle`` from the cache and touch the database only when it is cold. Any change to
what the bundle holds (a site, category, vendor, cookie, text or policy version) deletes
it at once; with Redis as the cache that holds across every process.
"""

import copy
import gzip
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.urls import reverse

from . import layers
from . import models as m
from .regions import Region, choose, from_meta
from .rules import CookieRule, is_adpc_refusal
from .ruleset import OPT_IN, InvalidRules, SiteRuleSet
from .texts import BANNER_TEXT_FIELDS, DEFAULT_TEXTS, NOTICE_TEXT_FIELDS, notice_words

log = logging.getLogger(__name__)
BANNER_FILE = Path(settings.BASE_DIR) / "banner_static" / "dist" / "banner.js"
# The build per privacy model (banner_static/scripts/build.mjs): the notice is only in the
# notice-only and opt-out ones, the "Your Privacy Choices" link and the GPP API only in
# the opt-out one. And the preferences layer, the same for every model (consent.layers).
PREFERENCES = "preferences"
BANNER_FILES = {
    OPT_IN: BANNER_FILE,
    "opt_out": BANNER_FILE.with_name("banner-optout.js"),
    "notice": BANNER_FILE.with_name("banner-notice.js"),
    PREFERENCES: BANNER_FILE.with_name("preferences.js"),
}
MISSING = "missing"
MISSING_TTL = 60
BUNDLE_TTL = 24 * 3600


@dataclass(frozen=True)
class ScriptVariant:
    script: bytes = field(repr=False)
    etag: str
    gzipped: bytes = field(repr=False)

    @classmethod
    def of(cls, config: dict, model: str) -> "ScriptVariant":
        """The build for ``model`` (or PREFERENCES) called with ``config``."""
        config_json = json.dumps(config, ensure_ascii=False, separators=(",", ":")).encode()
        # "</" would end an inline <script> early if a site ever inlines the response.
        script = banner_code(model) + b"(" + config_json.replace(b"</", b"<\\/") + b");\n"
        return cls(
            script,
            '"s-' + hashlib.sha256(script).hexdigest()[:32] + '"',
            # Compressed once here, not per request: the script is the hottest response.
            gzip.compress(script, 9, mtime=0),
        )


@dataclass
class SiteBundle:
    site_id: int
    key: str
    origins: tuple[str, ...]
    policy_version: int
    versions: frozenset[int]
    optional_categories: tuple[str, ...]
    consent_days: int
    refusal_days: int
    cookie_name: str
    rules: tuple[CookieRule, ...]
    hosts_by_category: dict[str, tuple[str, ...]]
    texts_hash: dict[str, str]
    default_language: str
    config_json: bytes
    config_etag: str
    banner: str = ""  # fingerprint of the banner code the script was built with
    # What the middleware enforces, here and on sites apart from the platform, which
    # fetch its document (GET /api/v1/sites/KEY/rules). None when the database holds
    # values no validation let in: enforcement then fails closed.
    ruleset: SiteRuleSet | None = field(default=None, repr=False)
    # Which privacy model applies where (region code -> model), and elsewhere.
    # False only in a bundle cached by an older release, which is rebuilt.
    rules_built: bool = False
    privacy_rules: dict[str, str] | None = field(default=None, repr=False)
    privacy_default: str = OPT_IN
    # The script served to visitors under each privacy model the site uses.
    variants: dict[str, "ScriptVariant"] = field(default_factory=dict, repr=False)
    # The same per model for a browser that sends an ADPC refusal (the banner cannot read
    # request headers, so the script tells it: it then refuses as under GPC).
    adpc_variants: dict[str, "ScriptVariant"] = field(default_factory=dict, repr=False)
    # The preferences layer with its data (/c/KEY/preferences.js), for every model.
    preferences: "ScriptVariant | None" = field(default=None, repr=False)
    # This build, for the processes that hold a copy (get_bundle): new with every build,
    # since much of what a bundle holds is in no one script (the other variants, the
    # preferences layer, origins, enforcement rules).
    stamp: str = field(default_factory=lambda: uuid.uuid4().hex)

    def privacy_model_for(self, region: Region) -> tuple[str, str]:
        """(model, the region code it was chosen by, "" for the site's default)."""
        return choose(self.privacy_rules or {}, self.privacy_default, region)

    @property
    def regional(self) -> bool:
        """Whether visitors get another script depending on where they are."""
        return len(self.variants) > 1

    @property
    def script(self) -> bytes:
        """The script of visitors no regional rule covers."""
        return self.variants[self.privacy_default].script

    def script_for(self, meta: Mapping[str, str]) -> "ScriptVariant":
        """The script for a request with these headers (``request.META``): its region's
        privacy model's variant (the region headers read only where the site's rules
        differ by region), the one that tells the banner of an ADPC refusal where the
        browser sent one."""
        region = from_meta(meta) if self.regional else Region()
        adpc = is_adpc_refusal(meta.get("HTTP_ADPC", ""))
        return (self.adpc_variants if adpc else self.variants)[self.privacy_model_for(region)[0]]

    def hash_for_language(self, language: str) -> str:
        return self.texts_hash.get(language) or self.texts_hash[self.default_language]

    def language_shown(self, language: str) -> str:
        """The language the banner showed for a requested one (``de-AT`` -> ``de``)."""
        if language in self.texts_hash:
            return language
        base = language.split("-")[0].lower()
        return base if base in self.texts_hash else self.default_language


@lru_cache(maxsize=4)
def _banner_code(path: Path, mtime: float) -> bytes:
    return path.read_bytes().strip().rstrip(b";")


def banner_code(model: str = OPT_IN) -> bytes:
    """The built banner for a privacy model: opt-in's has no notice and no GPP code."""
    path = BANNER_FILES.get(model, BANNER_FILE)
    try:
        return _banner_code(path, path.stat().st_mtime)
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"{path} is missing: build the banner (see README, 'The banner')."
        ) from None


def banner_fingerprint() -> str:
    digest = hashlib.sha256()
    for model in sorted(BANNER_FILES):
        digest.update(banner_code(model))
    return digest.hexdigest()[:12]


def cache_key(site_key: str) -> str:
    return f"bundle:{site_key}"


def texts_for(site: m.Site, language: str, categories, overrides: m.BannerText | None) -> dict:
    base = DEFAULT_TEXTS.get(language) or DEFAULT_TEXTS.get(language.split("-")[0]) or {}
    texts = copy.deepcopy(DEFAULT_TEXTS["en"])
    texts.update(copy.deepcopy({k: v for k, v in base.items() if k != "categories"}))
    category_texts = {}
    for category in categories:
        built_in = base.get("categories", {}).get(category.slug)
        if built_in and language != "en":
            category_texts[category.slug] = dict(built_in)
        else:
            category_texts[category.slug] = {
                "name": category.name,
                "description": category.description,
            }
    if overrides is not None:
        for model_field, key in BANNER_TEXT_FIELDS.items():
            if value := getattr(overrides, model_field):
                texts[key] = value
        for slug, words in (overrides.category_texts or {}).items():
            if slug in category_texts and isinstance(words, dict):
                category_texts[slug].update(
                    {k: str(v) for k, v in words.items() if k in ("name", "description") and v}
                )
    texts["categories"] = category_texts
    return texts


def _cookie_entry(cookie: m.CookieDefinition) -> dict:
    entry = {"name": cookie.name, "path": cookie.path or "/", "days": cookie.lifetime_days}
    if cookie.vendor is not None:
        entry["vendor"] = cookie.vendor.name
    if cookie.domain:
        entry["domain"] = cookie.domain
    if cookie.purpose:
        entry["purpose"] = cookie.purpose
    return entry


def _ruleset(
    site: m.Site, policy_version: int, categories, rules, hosts, privacy_rules
) -> SiteRuleSet | None:
    """What the middleware enforces; None (enforcement fails closed, the banner is still
    served) when the database holds values no validation let in, e.g. written by SQL."""
    try:
        return SiteRuleSet.of(
            site.key,
            policy_version,
            site.cookie_name,
            [c.slug for c in categories],
            rules,
            hosts,
            auto_blocking=site.auto_blocking,
            privacy_rules=privacy_rules,
            privacy_default=site.default_privacy_model,
        )
    except InvalidRules as exc:
        log.warning(
            "site %s: its rules do not validate (%s); enforcement fails closed", site.key, exc
        )
        return None


def build_bundle(site: m.Site) -> SiteBundle:
    categories = list(m.Category.objects.all())
    vendors = list(site.vendors.select_related("category"))
    cookies = list(site.cookies.select_related("category", "vendor"))
    versions = frozenset(site.policy_versions.values_list("version", flat=True)) or frozenset({1})
    policy_version = max(versions)
    overrides = {t.language: t for t in site.texts.all()}
    languages = [site.default_language, *sorted(set(overrides) - {site.default_language})]

    public_categories = []
    for category in categories:
        entry: dict = {"slug": category.slug}
        if category.required:
            entry["required"] = True
        entry["vendors"] = [
            {
                k: v
                for k, v in (
                    ("name", v.name),
                    ("description", v.description),
                    ("privacyUrl", v.privacy_policy_url),
                    # Auto-blocking holds back what loads from these (only then sent).
                    ("hosts", v.host_list() if site.auto_blocking else None),
                )
                if v
            }
            for v in vendors
            if v.category_id == category.pk
        ]
        entry["cookies"] = [_cookie_entry(c) for c in cookies if c.category_id == category.pk]
        public_categories.append(entry)

    texts = {lang: texts_for(site, lang, categories, overrides.get(lang)) for lang in languages}
    texts_hash = {
        lang: hashlib.sha256(
            json.dumps([policy_version, public_categories, words], sort_keys=True).encode()
        ).hexdigest()
        for lang, words in texts.items()
    }
    config = {
        "site": site.key,
        "endpoint": reverse("consent-create", args=[site.key]),
        "policyVersion": policy_version,
        "cookie": {
            "name": site.cookie_name,
            "domain": site.cookie_domain,
            "consentDays": site.consent_lifetime_days,
            "refusalDays": site.refusal_lifetime_days,
        },
        "button": site.show_preferences_button,
        "privacyUrl": site.privacy_policy_url,
        "autoBlocking": site.auto_blocking,
        "language": site.default_language,
        "categories": public_categories,
        "texts": texts,
    }
    config_json = json.dumps(config, ensure_ascii=False, separators=(",", ":")).encode()
    privacy_rules = {
        code: rule.privacy_model for rule in site.regional_rules.all() for code in rule.codes()
    }
    # The script's own copy leaves out what the banner never reads (its URL names the site)
    # and what only the preferences layer shows, which it loads when it is opened.
    inlined, panel = layers.split({k: v for k, v in config.items() if k != "site"})
    inlined["preferences"] = reverse("consent-preferences", args=[site.key])
    models = {site.default_privacy_model, *privacy_rules.values()}
    variants = {
        model: ScriptVariant.of(variant_config(inlined, model, overrides), model)
        for model in models
    }
    adpc_variants = {
        model: ScriptVariant.of(variant_config({**inlined, "adpc": True}, model, overrides), model)
        for model in models
    }

    hosts: dict[str, list[str]] = {}
    for vendor in vendors:
        hosts.setdefault(vendor.category.slug, []).extend(vendor.host_list())
    rules = tuple(CookieRule(c.name, c.category.slug, c.domain, c.path or "/") for c in cookies)
    return SiteBundle(
        site_id=site.pk,
        key=site.key,
        origins=tuple(site.origins()),
        policy_version=policy_version,
        versions=versions,
        optional_categories=tuple(c.slug for c in categories if not c.required),
        consent_days=site.consent_lifetime_days,
        refusal_days=site.refusal_lifetime_days,
        cookie_name=site.cookie_name,
        rules=rules,
        hosts_by_category={k: tuple(v) for k, v in hosts.items()},
        texts_hash=texts_hash,
        default_language=site.default_language,
        config_json=config_json,
        config_etag='"c-' + hashlib.sha256(config_json).hexdigest()[:32] + '"',
        banner=banner_fingerprint(),
        ruleset=_ruleset(site, policy_version, categories, rules, hosts, privacy_rules),
        rules_built=True,
        privacy_rules=privacy_rules,
        privacy_default=site.default_privacy_model,
        variants=variants,
        adpc_variants=adpc_variants,
        preferences=ScriptVariant.of(panel, PREFERENCES),
    )


def variant_config(
    config: dict, model: str, overrides: dict[str, m.BannerText] | None = None
) -> dict:
    """The banner's config for visitors under ``model``: opt-in's as it is; the others
    say which model applies and carry the notice's words, the built-in ones in the
    visitor's language where the site's texts (``overrides``, by language) leave a field
    blank."""
    if model == OPT_IN:
        return config
    # The notice takes the question's place: its words are not sent.
    unused = {"title", "body"} | ({"customise"} if model == "opt_out" else set())
    texts = {}
    for language, words in config["texts"].items():
        texts[language] = {
            **{k: v for k, v in words.items() if k not in unused},
            **notice_words(model, language),
        }
        site_words = (overrides or {}).get(language)
        for field_name, (key, models) in NOTICE_TEXT_FIELDS.items():
            if model in models and (value := getattr(site_words, field_name, "")):
                texts[language][key] = value
    return {**config, "model": model, "texts": texts}


# Each process keeps the bundles it used. It checks them against a small stamp in the
# shared cache at most every RECHECK_SECONDS (a change deletes the stamp): fetching and
# unpickling the whole bundle from Redis for every request, or even the stamp, cost more
# than the rest of the script endpoint. The process that makes a change forgets its copy
# at once, the others within RECHECK_SECONDS; the consent POST re-reads before it refuses
# a policy version or category it does not know.
RECHECK_SECONDS = 0.1
# What a process holds is bounded: the LOCAL_BUNDLES sites it used last (a bundle is tens
# of kilobytes: the script twice, plain and gzipped) and, apart, the LOCAL_MISSES keys it
# last found no site for, so a stream of unknown keys neither grows memory nor pushes the
# sites in use out. A key beyond either is asked of the shared cache again, which keeps
# a miss for MISSING_TTL seconds: repeated misses cost no query there either.
LOCAL_BUNDLES = 200
LOCAL_MISSES = 1000

Held = tuple[float, str, SiteBundle | None]  # (checked at, stamp, bundle or None)


class RecentlyUsed:
    """At most ``size`` entries, the least recently used dropped first (thread-safe:
    gunicorn's threaded workers share a process)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[str, Held] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Held | None:
        with self._lock:
            held = self._entries.get(key)
            if held is not None:
                self._entries.move_to_end(key)
            return held

    def put(self, key: str, held: Held) -> None:
        with self._lock:
            self._entries[key] = held
            self._entries.move_to_end(key)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_bundles = RecentlyUsed(LOCAL_BUNDLES)
_misses = RecentlyUsed(LOCAL_MISSES)


def stamp_key(site_key: str) -> str:
    return f"bundle-stamp:{site_key}"


def get_bundle(site_key: str, fresh: bool = False) -> SiteBundle | None:
    """The site's bundle, None if the site does not exist.

    This process's copy while it is recent or the shared stamp still matches it, else the
    shared cache's, else one built from the database (an unknown key is remembered
    briefly too, so unknown keys cannot hammer the database). ``fresh`` skips this
    process's copy.
    """
    now = time.monotonic()
    held = None if fresh else (_bundles.get(site_key) or _misses.get(site_key))
    if held is not None:
        checked_at, held_stamp, bundle = held
        if now - checked_at < RECHECK_SECONDS:
            return bundle
        if cache.get(stamp_key(site_key)) == held_stamp:
            _hold(site_key, (now, held_stamp, bundle))
            return bundle
    bundle = _shared_bundle(site_key)
    stamp = MISSING if bundle is None else bundle.stamp
    cache.set(stamp_key(site_key), stamp, MISSING_TTL if bundle is None else BUNDLE_TTL)
    _hold(site_key, (now, stamp, bundle))
    return bundle


def _hold(site_key: str, held: Held) -> None:
    kept, other = (_misses, _bundles) if held[2] is None else (_bundles, _misses)
    kept.put(site_key, held)
    other.discard(site_key)


def local_sizes() -> tuple[int, int]:
    """How many bundles and how many unknown keys this process holds."""
    return len(_bundles), len(_misses)


def forget_local() -> None:
    """Drop this process's copies (after a change made here, and between tests)."""
    _bundles.clear()
    _misses.clear()


def _shared_bundle(site_key: str) -> SiteBundle | None:
    key = cache_key(site_key)
    bundle = cache.get(key)
    if bundle == MISSING:
        return None
    if bundle is not None and bundle.banner == banner_fingerprint() and bundle.rules_built:
        return bundle
    site = m.Site.objects.filter(key=site_key).first()
    if site is None:
        cache.set(key, MISSING, MISSING_TTL)
        return None
    bundle = build_bundle(site)
    cache.set(key, bundle, BUNDLE_TTL)
    return bundle


def invalidate(*site_keys: str) -> None:
    keys = [key for k in site_keys if k for key in (cache_key(k), stamp_key(k))]

    def delete() -> None:
        cache.delete_many(keys)
        forget_local()

    # Delete now, and again after commit: a request that rebuilt the bundle from the
    # not-yet-committed state in between must not keep it.
    delete()
    transaction.on_commit(delete)


def invalidate_all() -> None:
    invalidate(*m.Site.objects.values_list("key", flat=True))


def _remember_old_key(sender, instance, raw=False, **kwargs):
    if instance.pk and not raw:
        instance._old_key = (
            m.Site.objects.filter(pk=instance.pk).values_list("key", flat=True).first()
        )


def _on_change(sender, instance, raw=False, **kwargs):
    if raw:
        return
    if sender is m.Category:
        invalidate_all()
    elif sender is m.Site:
        invalidate(instance.key, getattr(instance, "_old_key", None) or "")
    else:
        site = m.Site.objects.filter(pk=instance.site_id).values_list("key", flat=True).first()
        invalidate(site or "")


def connect() -> None:
    pre_save.connect(_remember_old_key, sender=m.Site, dispatch_uid="consent-bundle-site-key")
    for model in (
        m.Site,
        m.Category,
        m.Vendor,
        m.CookieDefinition,
        m.PolicyVersion,
        m.BannerText,
        m.RegionalRule,
    ):
        uid = f"consent-bundle-{model.__name__}"
        post_save.connect(_on_change, sender=model, dispatch_uid=uid)
        post_delete.connect(_on_change, sender=model, dispatch_uid=uid)
