"""The cookie scanner: what a site really does before and after a visitor's consent.

Headless Chromium (Debian's, driven by Playwright) opens each page twice, each time in a
fresh browser context: once without touching the banner, once after
``window.Consent.acceptAll()``. Every cookie the context holds and every third-party
request host is recorded as a ScanFinding. The report judges them with
``policy.category_for_cookie`` and the site's own definitions, like the middleware does:
anything seen before consent that is not Required is a leak.

Safety: only pages on the site's allowed origins are visited (``models.is_on_site``),
also when a page tries to navigate elsewhere, so the admin cannot be used to make the
server fetch arbitrary addresses. The banner's consent POSTs are answered by the scanner
itself, so scans never become consent records.

Browser work and database work never overlap: Playwright's sync API runs an event loop
in this thread, and Django refuses database queries while one runs.
"""

import fnmatch
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from . import catalogue
from .chromium import CHROMIUM_ARGS
from .models import (
    REQUIRED,
    Category,
    CookieScan,
    JobStatus,
    ScanFinding,
    Site,
    Vendor,
    is_on_site,
    job_running,
)
from .policy import category_for_cookie
from .siteconfig import get_bundle

log = logging.getLogger(__name__)

PAGE_TIMEOUT_MS = 20_000
# The network counts as settled after this long without a request in flight.
QUIET_SECONDS = 0.5
SETTLE_LIMIT_SECONDS = 10.0


def chromium_path() -> str:
    return getattr(settings, "CONSENT_SCANNER_CHROMIUM", "/usr/bin/chromium")


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


@dataclass
class Visit:
    """What one page showed in one phase: plain data, filled in while the browser runs."""

    url: str
    phase: str
    cookies: list[dict] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    error: str = ""


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

    def settle(self, page) -> None:
        """Wait until nothing has been in flight for QUIET_SECONDS, counted from now: the
        requests an action (like accepting) causes may not have started yet."""
        self.last_change = time.monotonic()
        deadline = self.last_change + SETTLE_LIMIT_SECONDS
        while time.monotonic() < deadline:
            if self.in_flight == 0 and time.monotonic() - self.last_change >= QUIET_SECONDS:
                return
            page.wait_for_timeout(100)


def _is_platform(path: str, site_key: str) -> bool:
    """The banner's own script and API calls: the consent platform, not a vendor."""
    return path == f"/c/{site_key}.js" or path.startswith(f"/api/v1/sites/{site_key}/")


def visit(browser, url: str, phase: str, site_key: str, allowed: Callable[[str], bool]) -> Visit:
    seen = Visit(url, phase)
    page_host = urlsplit(url).hostname or ""
    context = browser.new_context()
    try:
        network = _Network()

        def route(request_route) -> None:
            request = request_route.request
            parts = urlsplit(request.url)
            if request.method == "POST" and _is_platform(parts.path, site_key):
                request_route.fulfill(status=201, content_type="application/json", body="{}")
            elif (
                request.is_navigation_request()
                and request.frame.parent_frame is None
                and not allowed(request.url)
            ):
                request_route.abort()
            else:
                request_route.continue_()

        def record_host(request) -> None:
            parts = urlsplit(request.url)
            if parts.scheme not in ("http", "https") or _is_platform(parts.path, site_key):
                return
            if parts.hostname and not same_site(parts.hostname, page_host):
                seen.hosts.add(parts.hostname)

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.on("request", network.started)
        page.on("request", record_host)
        page.on("requestfinished", network.ended)
        page.on("requestfailed", network.ended)
        page.goto(url, wait_until="load")
        network.settle(page)
        if phase == ScanFinding.Phase.AFTER:
            try:
                page.wait_for_function(
                    "() => window.Consent && typeof window.Consent.acceptAll === 'function'",
                    timeout=5000,
                )
            except Exception:
                seen.error = "the banner (window.Consent) did not load"
            else:
                page.evaluate("() => window.Consent.acceptAll()")
                network.settle(page)
        seen.cookies = context.cookies()
    except Exception as exc:
        seen.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    finally:
        context.close()
    return seen


def crawl(urls: list[str], site_key: str, allowed: Callable[[str], bool]) -> list[Visit]:
    """Visit every URL before and after accept all, each time in a fresh context."""
    from playwright.sync_api import sync_playwright

    visits: list[Visit] = []
    if not urls:
        return visits
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            for url in urls:
                for phase in (ScanFinding.Phase.BEFORE, ScanFinding.Phase.AFTER):
                    visits.append(visit(browser, url, phase, site_key, allowed))
        finally:
            browser.close()
    return visits


def findings_from(scan: CookieScan, visits: list[Visit], now: float) -> list[ScanFinding]:
    findings = []
    for seen in visits:
        page_host = urlsplit(seen.url).hostname or ""
        for cookie in seen.cookies:
            expires = cookie.get("expires", -1)
            findings.append(
                ScanFinding(
                    scan=scan,
                    kind=ScanFinding.Kind.COOKIE,
                    phase=seen.phase,
                    page_url=seen.url[:500],
                    name=cookie["name"][:255],
                    domain=cookie.get("domain", "")[:255],
                    path=cookie.get("path", "")[:255],
                    lifetime_days=None
                    if expires is None or expires < 0
                    else round(max(0.0, expires - now) / 86400, 2),
                    http_only=bool(cookie.get("httpOnly")),
                    secure=bool(cookie.get("secure")),
                    same_site=(cookie.get("sameSite") or "")[:8],
                    third_party=not same_site(cookie.get("domain", ""), page_host),
                )
            )
        findings.extend(
            ScanFinding(
                scan=scan,
                kind=ScanFinding.Kind.REQUEST,
                phase=seen.phase,
                page_url=seen.url[:500],
                name=host[:255],
                third_party=True,
            )
            for host in sorted(seen.hosts)
        )
    return findings


def run(scan_id: int) -> CookieScan:
    """Run a scan. Idempotent: a finished scan is left alone; any other replaces its
    findings as a whole, so a retried scan never lists anything twice."""
    scan = CookieScan.objects.select_related("site").get(pk=scan_id)
    if scan.status == JobStatus.DONE:
        return scan
    site = scan.site
    urls = [url for url in scan.url_list() if is_on_site(site, url)]
    refused = [url for url in scan.url_list() if url not in urls]
    with job_running(CookieScan, scan.pk):
        started = time.time()
        visits = crawl(urls, site.key, lambda url: is_on_site(site, url))
    errors = [f"{url}: not on the site's allowed origins, not visited" for url in refused]
    errors += [f"{v.url} ({v.phase}): {v.error}" for v in visits if v.error]
    with transaction.atomic():
        scan.findings.all().delete()
        ScanFinding.objects.bulk_create(findings_from(scan, visits, started))
        CookieScan.objects.filter(pk=scan.pk).update(
            status=JobStatus.DONE, error="\n".join(errors), finished_at=timezone.now()
        )
    log.info("scan %s: %d pages in %.1fs", scan.pk, len(urls), time.time() - started)
    scan.refresh_from_db()
    return scan


# --- The report ---------------------------------------------------------------------------


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower().rsplit(":", 1)[0] if ":" in pattern else pattern.lower()
    if pattern.startswith("*."):
        return host == pattern[2:] or fnmatch.fnmatchcase(host, pattern)
    return host == pattern


def vendor_for_host(host: str, vendors: Iterable[Vendor]) -> Vendor | None:
    return next((v for v in vendors if any(_host_matches(host, p) for p in v.host_list())), None)


@dataclass
class CookieLine:
    finding: ScanFinding
    category: str | None  # None: no CookieDefinition matches
    known: catalogue.KnownCookie | None = None
    create_url: str = ""

    @property
    def leak(self) -> bool:
        return self.finding.phase == ScanFinding.Phase.BEFORE and self.category != REQUIRED


@dataclass
class RequestLine:
    finding: ScanFinding
    vendor: Vendor | None

    @property
    def category(self) -> str | None:
        return self.vendor.category.slug if self.vendor else None

    @property
    def leak(self) -> bool:
        return self.finding.phase == ScanFinding.Phase.BEFORE and self.category != REQUIRED


@dataclass
class Report:
    leaks: list
    cookies: list[CookieLine]
    requests: list[RequestLine]
    unknown: list[CookieLine]  # one line per unknown cookie name
    vendors: list[tuple[Vendor, list[str]]]  # vendors seen, with the hosts they used
    unknown_hosts: list[str]


def create_definition_url(site: Site, line: CookieLine, categories: dict[str, int]) -> str:
    """The admin's add form for a CookieDefinition, pre-filled from the catalogue (or from
    what the scanner saw, when the catalogue does not know the cookie)."""
    finding, known = line.finding, line.known
    params = {"site": site.pk, "name": finding.name, "path": finding.path or "/"}
    if finding.third_party:
        params["domain"] = finding.domain
    if known is not None:
        params["name"] = known.name
        params["purpose"] = known.purpose
        if known.category in categories:
            params["category"] = categories[known.category]
        if known.lifetime_days is not None:
            params["lifetime_days"] = known.lifetime_days
        vendor = site.vendors.filter(name=known.vendor).first()
        if vendor is not None:
            params["vendor"] = vendor.pk
    elif finding.lifetime_days is not None:
        params["lifetime_days"] = max(1, round(finding.lifetime_days))
    return reverse("admin:consent_cookiedefinition_add") + "?" + urlencode(params)


def report(scan: CookieScan) -> Report:
    site = scan.site
    bundle = get_bundle(site.key)
    rules = bundle.rules if bundle else ()
    required = [*settings.CONSENT_REQUIRED_COOKIES, site.cookie_name]
    vendors = list(site.vendors.select_related("category"))
    categories = dict(Category.objects.values_list("slug", "pk"))

    cookies, requests = [], []
    unknown: dict[str, CookieLine] = {}
    for finding in scan.findings.all():
        if finding.kind == ScanFinding.Kind.COOKIE:
            line = CookieLine(finding, category_for_cookie(finding.name, rules, required))
            cookies.append(line)
            if line.category is None and finding.name not in unknown:
                line.known = catalogue.lookup(finding.name)
                line.create_url = create_definition_url(site, line, categories)
                unknown[finding.name] = line
        else:
            requests.append(RequestLine(finding, vendor_for_host(finding.name, vendors)))

    seen_vendors: dict[int, tuple[Vendor, list[str]]] = {}
    unknown_hosts = []
    for line in requests:
        if line.vendor is None:
            if line.finding.name not in unknown_hosts:
                unknown_hosts.append(line.finding.name)
            continue
        hosts = seen_vendors.setdefault(line.vendor.pk, (line.vendor, []))[1]
        if line.finding.name not in hosts:
            hosts.append(line.finding.name)
    leaks = [line for line in cookies + requests if line.leak]
    return Report(
        leaks=leaks,
        cookies=cookies,
        requests=requests,
        unknown=list(unknown.values()),
        vendors=list(seen_vendors.values()),
        unknown_hosts=unknown_hosts,
    )
