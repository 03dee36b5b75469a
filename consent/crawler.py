"""The cookie scanner's browser, in a process of its own: ``python -m consent.crawler``.

consent.scanner starts it as an unprivileged user with nothing of the platform's
environment (no database, no secrets), writes the job on its stdin as JSON and reads one
JSON line per visited page from its stdout; when the scan's time limit is up it kills
this process and the browser, whatever they are doing (and should the parent be gone,
``watchdog`` does).

Each page is opened twice, each time in a fresh browser context: once without touching
the banner, once after ``window.Consent.acceptAll()``. Every cookie the context holds and
every third-party request host is recorded. Around the pages:

- Every request is routed: main-frame navigations only to the site's own origins, every
  request only to addresses consent.egress permits; the banner's consent POSTs are
  answered here, so scans never become consent records.
- Every connection goes through consent.egress's gate, which judges the address it
  connects to: redirects (which Playwright's routing does not see), websockets and DNS
  rebinding included.
- No service workers, no downloads, dialogs dismissed, short timeouts, Chromium's sandbox.

Browser error strings never leave this process: they say which ports answer. A refused
request is reported as ``host:port``, a page as one of the fixed messages below.

No Django here.
"""

import ipaddress
import json
import os
import pwd
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from .chromium import SCANNER_ARGS
from .egress import Gate, NetworkPolicy, Refused, endpoint

BEFORE, AFTER = "before", "after"

PAGE_TIMEOUT_MS = 20_000
# The network counts as settled after this long without a request in flight.
QUIET_SECONDS = 0.5
SETTLE_LIMIT_SECONDS = 10.0
# A visit is not started with less time than this left before the scan's deadline.
MIN_VISIT_SECONDS = 3.0

BLOCKED = "blocked by the scanner's network policy"
DID_NOT_LOAD = "the page did not load"
LEFT_SITE = "the page led off the site's allowed origins; not scanned"
NO_BANNER = "the banner (window.Consent) did not load"
NO_TIME = "not visited: the scan reached its time limit"


@dataclass
class Visit:
    """What one page showed in one phase: plain data, filled in while the browser runs."""

    url: str
    phase: str
    cookies: list[dict] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    blocked: list[str] = field(default_factory=list)  # host:port the policy refused
    error: str = ""

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "hosts": sorted(self.hosts)})

    @classmethod
    def from_json(cls, line: str) -> "Visit":
        data = json.loads(line)
        return cls(**{**data, "hosts": set(data["hosts"])})


@dataclass
class Job:
    urls: list[str]
    # The platform's own URLs for the site (reversed from consent.urls by the scanner): the
    # banner's script, and the prefix of its API calls.
    platform_script: str
    platform_api: str
    origins: list[str]
    allowed_networks: list[str]
    time_limit: float  # seconds: no page is started after this
    kill_after: float  # seconds: the parent kills the crawler then (or it kills itself)
    chromium: str = "/usr/bin/chromium"
    sandbox: bool = True
    user: str = ""  # run as this user (the parent is root); empty: as the parent's user


def same_site(host: str, other: str) -> bool:
    """Whether two hosts belong to the same site: equal, or sharing their last two labels.

    There is no Public Suffix List here, so ``a.co.uk`` and ``b.co.uk`` count as one
    site; that errs towards calling a request first party, never towards a false leak.
    """
    host, other = host.lower().strip("."), other.lower().strip(".")
    if host == other:
        return True
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    return host.split(".")[-2:] == other.split(".")[-2:] and "." in host and "." in other


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class _Network:
    """Counts requests in flight so a page can be left once the network is quiet."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.last_change = time.monotonic()

    def started(self, request) -> None:
        self.in_flight += 1
        self.last_change = time.monotonic()

    def ended(self, request) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.last_change = time.monotonic()

    def settle(self, page, deadline: float) -> None:
        """Wait until nothing has been in flight for QUIET_SECONDS, counted from now: the
        requests an action (like accepting) causes may not have started yet."""
        self.last_change = time.monotonic()
        limit = min(self.last_change + SETTLE_LIMIT_SECONDS, deadline)
        while time.monotonic() < limit:
            if self.in_flight == 0 and time.monotonic() - self.last_change >= QUIET_SECONDS:
                return
            page.wait_for_timeout(100)


def _is_platform(path: str, job: Job) -> bool:
    """The banner's own script and API calls: the consent platform, not a vendor."""
    return path == job.platform_script or path.startswith(job.platform_api)


def _top_level(request) -> bool:
    """A navigation of a page's main frame (a popup's first request has no frame yet)."""
    if not request.is_navigation_request():
        return False
    try:
        return request.frame.parent_frame is None
    except Exception:
        return True


def visit(browser, gate: Gate, job: Job, url: str, phase: str, deadline: float) -> Visit:
    seen = Visit(url, phase)
    page_host = urlsplit(url).hostname or ""
    origins = {o.lower().rstrip("/") for o in job.origins}
    blocked: list[str] = []
    requested: set[str] = set()  # host:port of every request the pages made
    navigation_blocked: list[str] = []
    verdicts: dict[str, bool] = {}
    gate.take_refused()
    context = browser.new_context(service_workers="block", accept_downloads=False)
    try:
        network = _Network()

        def allowed(request) -> bool:
            if _top_level(request) and origin_of(request.url) not in origins:
                return False  # no page off the site's origins, popups included
            # One lookup per host and port and page: the gate checks each connection.
            where = f"{urlsplit(request.url).scheme}://{endpoint(request.url)}"
            if where not in verdicts:
                try:
                    gate.policy.check_url(request.url)
                    verdicts[where] = True
                except Refused:
                    verdicts[where] = False
            return verdicts[where]

        def route(request_route) -> None:
            # An error here refuses the request (and must not end the crawl).
            request = request_route.request
            with suppress(Exception):
                parts = urlsplit(request.url)
                if request.method == "POST" and _is_platform(parts.path, job):
                    request_route.fulfill(status=201, content_type="application/json", body="{}")
                    return
                if allowed(request):
                    request_route.continue_()
                    return
            blocked.append(endpoint(request.url))
            top_level = _top_level(request)
            if top_level:
                navigation_blocked.append(request.url)
            with suppress(Exception):
                # "aborted" leaves the page as it was; other errors show an error page.
                request_route.abort("aborted" if top_level else "blockedbyclient")

        def route_websocket(socket_route) -> None:
            with suppress(Exception):
                gate.policy.check_url(socket_route.url)
                socket_route.connect_to_server()
                return
            blocked.append(endpoint(socket_route.url))
            with suppress(Exception):
                socket_route.close()

        def record_host(request) -> None:
            parts = urlsplit(request.url)
            if parts.scheme not in ("http", "https") or _is_platform(parts.path, job):
                return
            if parts.hostname and not same_site(parts.hostname, page_host):
                seen.hosts.add(parts.hostname)

        def failed(request) -> None:
            # A redirect hop the gate refused: routing never saw it, the gate did.
            network.ended(request)
            if _top_level(request) and endpoint(request.url) in gate.refused_so_far():
                navigation_blocked.append(request.url)

        context.on("request", lambda request: requested.add(endpoint(request.url)))
        context.route("**/*", route)
        context.route_web_socket("**/*", route_websocket)
        context.on("dialog", lambda dialog: dialog.dismiss())
        page = context.new_page()
        remaining_ms = max(1000, int((deadline - time.monotonic()) * 1000))
        page.set_default_timeout(min(PAGE_TIMEOUT_MS, remaining_ms))
        page.on("request", network.started)
        page.on("request", record_host)
        page.on("requestfinished", network.ended)
        page.on("requestfailed", failed)
        try:
            page.goto(url, wait_until="commit")
        except Exception:
            seen.error = BLOCKED if navigation_blocked else DID_NOT_LOAD
            return seen
        # The page is there; a navigation it starts itself (refused when off the site)
        # may keep "load" from coming: what it did until then is scanned all the same.
        with suppress(Exception):
            page.wait_for_function("() => document.readyState === 'complete'")
        if origin_of(page.url) not in origins:
            seen.error = LEFT_SITE
            seen.hosts.clear()
            return seen
        network.settle(page, deadline)
        if phase == AFTER:
            try:
                page.wait_for_function(
                    "() => window.Consent && typeof window.Consent.acceptAll === 'function'",
                    timeout=min(5000, remaining_ms),
                )
            except Exception:
                seen.error = NO_BANNER
            else:
                # Not awaited: a page whose acceptAll never returns costs only this visit.
                page.evaluate("() => { setTimeout(() => window.Consent.acceptAll()); }")
                network.settle(page, deadline)
        seen.cookies = context.cookies()
    except Exception:
        seen.error = seen.error or DID_NOT_LOAD
    finally:
        context.close()
        # The gate also refuses Chromium's own calls home: only the pages' count.
        seen.blocked = sorted(set(blocked) | (set(gate.take_refused()) & requested))
    return seen


def crawl(job: Job) -> Iterator[Visit]:
    """Visit every URL before and after accept all, each time in a fresh context; stop
    starting visits when the time limit is near (the parent kills what overruns)."""
    from playwright.sync_api import sync_playwright

    deadline = time.monotonic() + job.time_limit
    with Gate(NetworkPolicy(job.allowed_networks)) as gate, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=job.chromium,
            headless=True,
            args=SCANNER_ARGS,
            chromium_sandbox=job.sandbox,
            proxy={"server": gate.url},
            timeout=30_000,
        )
        try:
            for url in job.urls:
                for phase in (BEFORE, AFTER):
                    if deadline - time.monotonic() < MIN_VISIT_SECONDS:
                        yield Visit(url, phase, error=NO_TIME)
                    else:
                        yield visit(browser, gate, job, url, phase, deadline)
        finally:
            browser.close()


def become(user: str) -> None:
    """Drop root for good, before anything a page sends is read. Everything the crawl
    imports is imported first: the interpreter's own files need not be readable by the
    scanner's user."""
    import concurrent.futures.thread  # noqa: F401  (asyncio's executor, imported lazily)
    import encodings.idna  # noqa: F401

    import playwright.sync_api  # noqa: F401

    entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        raise SystemExit(f"the scanner's user {user!r} is root: name an unprivileged user")
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if 0 in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()):
        raise SystemExit("could not drop root")


def watchdog(seconds: float) -> None:
    """Kill this process group after ``seconds``, should the parent that would have done
    it be gone: a page can keep a browser busy for ever. The browser, in a session of its
    own, exits when its pipe to Playwright's driver closes."""
    timer = threading.Timer(seconds, os.killpg, (os.getpgrp(), signal.SIGKILL))
    timer.daemon = True
    timer.start()


def main() -> int:
    job = Job(**json.load(sys.stdin))
    watchdog(job.kill_after + 5)
    if job.user:
        become(job.user)
    for seen in crawl(job):
        sys.stdout.write(seen.to_json() + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
