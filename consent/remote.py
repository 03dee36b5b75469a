"""Remote mode: the rules of a Django site apart from the platform, from the platform.

With ``CONSENT_PLATFORM_URL`` set, ConsentMiddleware enforces what the platform publishes
for ``CONSENT_SITE_KEY`` at ``GET /api/v1/sites/KEY/rules`` (consent.ruleset), and never
needs the platform's database:

- Each process holds one copy, which a background thread asks the platform about every
  ``CONSENT_REMOTE_REFRESH_SECONDS``, with ``If-None-Match`` (unchanged rules cost a 304).
  A visitor's request never waits for the platform, except the first ones of a process
  that found no copy anywhere: they wait for the first answer, ``CONSENT_REMOTE_TIMEOUT``
  seconds at most.
- Staleness bound: while the platform answers, a change made in its admin is enforced
  within ``CONSENT_REMOTE_REFRESH_SECONDS + CONSENT_REMOTE_TIMEOUT`` seconds.
- Every good copy also goes to the site's cache (new processes start from it) and to a
  file, ``CONSENT_REMOTE_RULES_FILE``, so a site restarted while the platform is away
  still starts from the last good rules.
- The platform unreachable, or answering anything but the site's rules: the last good
  rules stay in force, however old, and the log says so.
- No rules at all (a first start with the platform away): every cookie but the required
  ones is blocked and nothing optional is allowed (the middleware fails closed), with a
  warning in the log at every attempt. Pages are served all the same.
"""

import http.client
import logging
import math
import os
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.signals import setting_changed

from .ruleset import MAX_BYTES, InvalidRules, SiteRuleSet

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
TIMEOUT_SECONDS = 5.0
USER_AGENT = "consent-enforce/1"


@dataclass(frozen=True)
class Remote:
    """Where this site's rules come from, and how often they are asked for."""

    platform_url: str  # scheme://host[:port][/prefix], no trailing slash
    site_key: str
    refresh_seconds: float
    timeout: float
    rules_file: Path

    @property
    def rules_url(self) -> str:
        return f"{self.platform_url}/api/v1/sites/{self.site_key}/rules"

    @property
    def script_url(self) -> str:
        """The public contract's embed, on the platform."""
        return f"{self.platform_url}/c/{self.site_key}.js"

    @property
    def origin(self) -> str:
        """The platform's origin: the banner loads from it and posts decisions to it."""
        parts = urlsplit(self.platform_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def cache_key(self) -> str:
        return f"consent:remote-rules:{self.site_key}"


def default_rules_file(site_key: str) -> Path:
    """$XDG_CACHE_HOME/consent/rules-KEY.json (~/.cache when unset): the user's own,
    never a shared directory such as /tmp, where another user could plant rules."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "consent" / f"rules-{site_key}.json"


def number_setting(name: str, default: float) -> float | None:
    """A setting in seconds: ``default`` when unset, None when it is not a number above 0."""
    value = getattr(settings, name, None)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < math.inf else None


def _seconds(name: str, default: float) -> float:
    number = number_setting(name, default)
    if number is None:
        logger.warning("%s is not a number of seconds above 0: using %g.", name, default)
        return default
    return number


@cache
def configured() -> Remote | None:
    """The remote-mode settings; None without ``CONSENT_PLATFORM_URL`` (the platform
    itself, or a site that shares its database). consent.enforce.checks validates them."""
    url = (getattr(settings, "CONSENT_PLATFORM_URL", "") or "").rstrip("/")
    if not url:
        return None
    key = getattr(settings, "CONSENT_SITE_KEY", "")
    rules_file = getattr(settings, "CONSENT_REMOTE_RULES_FILE", "") or default_rules_file(key)
    return Remote(
        platform_url=url,
        site_key=key,
        refresh_seconds=_seconds("CONSENT_REMOTE_REFRESH_SECONDS", REFRESH_SECONDS),
        timeout=_seconds("CONSENT_REMOTE_TIMEOUT", TIMEOUT_SECONDS),
        rules_file=Path(rules_file),
    )


class RulesFeed:
    """This process's copy of the site's rules, and the thread that keeps it fresh."""

    def __init__(self, remote: Remote, ruleset: SiteRuleSet | None = None) -> None:
        self.remote = remote
        self.ruleset = ruleset
        # Set once the first fetch is over, whatever its outcome.
        self.first_answer = threading.Event()
        self.reachable = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Loads the last good copy kept here, then starts asking the platform."""
        with self._lock:
            if self._thread is not None:
                return
            if self.ruleset is None:
                self.ruleset = self._kept_copy()
            self._thread = threading.Thread(
                target=self._run, name="consent-remote-rules", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.remote.timeout + 1)

    def current(self) -> SiteRuleSet | None:
        """The rules in force; None when there are none (the middleware fails closed)."""
        ruleset = self.ruleset
        if ruleset is None and not self.first_answer.is_set():
            self.first_answer.wait(self.remote.timeout)
            ruleset = self.ruleset
        return ruleset

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self.first_answer.set()
            self._stop.wait(self.remote.refresh_seconds)

    def refresh(self) -> None:
        """Asks the platform once; adopts and keeps new rules, keeps the old ones else."""
        held = self.ruleset
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if held is not None:
            headers["If-None-Match"] = held.etag
        url = self.remote.rules_url
        if not url.startswith(("https://", "http://")):
            self._failed("CONSENT_PLATFORM_URL is not an http(s) URL")
            return
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=self.remote.timeout) as response:  # noqa: S310
                body = response.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as error:
            if error.code == 304 and held is not None:
                self._reached()
            else:
                self._failed(f"it answered {error.code}")
            return
        except (OSError, http.client.HTTPException, ValueError) as error:
            self._failed(str(error) or type(error).__name__)
            return
        try:
            ruleset = SiteRuleSet.parse(body, self.remote.site_key)
        except InvalidRules as error:
            self._failed(f"its answer is not the site's rules ({error})")
            return
        self._reached()
        if held is None or ruleset.etag != held.etag:
            self.ruleset = ruleset
            self._keep(ruleset)
            logger.info(
                "Consent rules of site %r from %s: policy version %d, %d cookie definitions.",
                ruleset.site,
                self.remote.platform_url,
                ruleset.policy_version,
                len(ruleset.rules),
            )

    def _reached(self) -> None:
        if not self.reachable:
            logger.warning("The consent platform %s answers again.", self.remote.platform_url)
        self.reachable = True

    def _failed(self, reason: str) -> None:
        if self.ruleset is None:
            # Every attempt: a site enforcing nothing but the required cookies is an
            # outage its operators must see.
            logger.warning(
                "No consent rules for site %r: %s: %s. Every cookie but the required ones "
                "is blocked until the platform answers.",
                self.remote.site_key,
                self.remote.rules_url,
                reason,
            )
        elif self.reachable:
            logger.warning(
                "Cannot refresh the consent rules of site %r (%s: %s): enforcing the last "
                "good ones (policy version %d) until the platform answers.",
                self.remote.site_key,
                self.remote.rules_url,
                reason,
                self.ruleset.policy_version,
            )
        self.reachable = False

    def _kept_copy(self) -> SiteRuleSet | None:
        """The last good rules in the site's cache, else in the rules file."""
        sources = (("the cache", self._cached), (str(self.remote.rules_file), self._from_file))
        for name, read in sources:
            document = read()
            if document is None:
                continue
            try:
                ruleset = SiteRuleSet.parse(document, self.remote.site_key)
            except InvalidRules as error:
                logger.warning("Ignoring the consent rules kept in %s: %s", name, error)
                continue
            logger.info("Consent rules of site %r from %s.", ruleset.site, name)
            return ruleset
        return None

    def _cached(self) -> bytes | None:
        try:
            document = django_cache.get(self.remote.cache_key)
        except Exception as error:  # any backend's failure: the cache only speeds up
            logger.warning("Cannot read the consent rules from the cache: %s", error)
            return None
        return document if isinstance(document, bytes) else None

    def _from_file(self) -> bytes | None:
        try:
            return self.remote.rules_file.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.warning("Cannot read %s: %s", self.remote.rules_file, error)
            return None

    def _keep(self, ruleset: SiteRuleSet) -> None:
        try:
            django_cache.set(self.remote.cache_key, ruleset.document, None)
        except Exception as error:  # any backend's failure: the file still keeps a copy
            logger.warning("Cannot keep the consent rules in the cache: %s", error)
        path = self.remote.rules_file
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Written whole, then renamed: a crash leaves the old copy, never half a file.
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".rules-")
            with os.fdopen(handle, "wb") as out:
                out.write(ruleset.document)
            os.replace(temporary, path)
        except OSError as error:
            logger.warning("Cannot keep the consent rules in %s: %s", path, error)


_feed: RulesFeed | None = None
_feed_lock = threading.Lock()
# The copy a forked process inherited (gunicorn's preload): its first pages enforce it.
_inherited: SiteRuleSet | None = None


def feed() -> RulesFeed | None:
    """This process's feed, started; None outside remote mode."""
    global _feed
    current = _feed
    if current is not None:
        return current
    remote = configured()
    if remote is None:
        return None
    with _feed_lock:
        if _feed is None:
            inherited = _inherited if _inherited and _inherited.site == remote.site_key else None
            _feed = RulesFeed(remote, inherited)
            _feed.start()
        return _feed


def current_rules() -> SiteRuleSet | None:
    """The rules this site enforces in remote mode; None when there are none yet."""
    current = _feed or feed()
    return current.current() if current is not None else None


def forget(**kwargs) -> None:
    """Stops this process's feed and forgets the settings (tests; a setting changed)."""
    global _feed, _inherited
    with _feed_lock:
        if _feed is not None:
            _feed.stop()
        _feed = _inherited = None
    configured.cache_clear()


def _after_fork_in_child() -> None:
    # The thread did not survive the fork: the child keeps the copy and starts its own.
    global _feed, _feed_lock, _inherited
    _feed_lock = threading.Lock()
    if _feed is not None:
        _inherited = _feed.ruleset
    _feed = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _forget_on_setting(setting: str, **kwargs) -> None:
    if setting.startswith("CONSENT_") or setting == "CACHES":
        forget()


setting_changed.connect(_forget_on_setting, dispatch_uid="consent-remote-settings")
