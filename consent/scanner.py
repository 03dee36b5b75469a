"""The cookie scanner: what a site really does before and after a visitor's consent.

Headless Chromium opens each page twice, each time in a fresh browser context: once
without touching the banner, once after ``window.Consent.acceptAll()``. Every cookie the
context holds and every third-party request host is recorded as a ScanFinding. The report
judges them with ``rules.category_for_cookie`` and the site's own definitions, like the
middleware does: anything seen before consent that is not Required is a leak.

The pages are the site's, chosen by staff, and run their own code, so the browser is
kept on a short leash (consent.crawler, consent.egress): it runs in a process of its own
as an unprivileged user, sandboxed, with none of the platform's environment; it reaches
only public addresses and what CONSENT_SCANNER_ALLOWED_NETWORKS names (the site's own
origins pass the same check: being registered is no licence to reach the intranet); it is
killed when the scan's time limit is up, whatever the worker pool. Only pages on the
site's allowed origins are opened (``models.is_on_site``). A scan never runs in the web
request that asked for it: a Celery worker runs it or, in the embedded mode, a thread
of the web process (``start_in_background``).
"""

import fcntl
import fnmatch
import hashlib
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import checks
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from . import catalogue
from .bundles import get_bundle
from .crawler import BLOCKED, Job, Visit, same_site
from .egress import Allowance
from .models import (
    REQUIRED,
    Category,
    CookieScan,
    JobStatus,
    ScanFinding,
    Site,
    Vendor,
    is_on_site,
)
from .rules import category_for_cookie

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A scan still "running" this long after its time limit has lost its process.
STALE_AFTER = timedelta(minutes=2)
TIME_LIMIT_REACHED = "stopped at the scan's time limit ({seconds} s): the browser was killed"
BROWSER_FAILED = "the browser could not run the scan (details in the worker's log)"
PROCESS_LOST = "the scan stopped without finishing (its worker or process ended); start it again"
BLOCKED_SHOWN = 10


class ScanFailed(Exception):
    """The browser did not finish: the scan is marked failed with this message."""


def chromium_path() -> str:
    return settings.CONSENT_SCANNER_CHROMIUM


def time_limit() -> int:
    return settings.CONSENT_SCANNER_TIME_LIMIT


def scanner_user() -> str:
    """Whom the browser runs as: the scanner's user when the worker is root (Chromium's
    sandbox refuses root), else the worker's own user."""
    return settings.CONSENT_SCANNER_USER if os.geteuid() == 0 else ""


@checks.register("consent")
def check_allowed_networks(app_configs, **kwargs) -> list[checks.Error]:
    errors = []
    for entry in settings.CONSENT_SCANNER_ALLOWED_NETWORKS:
        try:
            Allowance.parse(entry)
        except ValueError as exc:
            errors.append(
                checks.Error(
                    f"CONSENT_SCANNER_ALLOWED_NETWORKS: {exc}",
                    hint='Write CIDRs, addresses or address:port, e.g. "127.0.0.1:8000".',
                    id="consent.E101",
                )
            )
    return errors


@dataclass
class Crawl:
    visits: list[Visit] = field(default_factory=list)
    failure: str = ""  # set when the browser was killed or died: the scan failed


@contextmanager
def _private_home(user: str):
    """A HOME and TMPDIR of the browser's own, removed afterwards."""
    home = tempfile.mkdtemp(prefix="consent-scan-")
    try:
        if user:
            entry = pwd.getpwnam(user)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _kill(process: subprocess.Popen) -> None:
    """The crawler leads its own process group (Playwright's driver is in it). Called
    before the crawler is reaped, so the group id cannot have been reused."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _processes_of(home: str) -> list[int]:
    """The crawler, its driver and the browser: their environment names the crawl's home."""
    marker = f"HOME={home}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as environ:
                    if marker in environ.read().split(b"\0"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def _end_browser(home: str, wait: float = 10.0) -> None:
    """Chromium leads a session of its own (Playwright starts it so), which killing the
    crawler's group does not reach: kill every group led by a process of this crawl, its
    sandboxed children with it, and wait for them before the home is removed."""
    deadline = time.monotonic() + wait
    while remaining := _processes_of(home):
        for pid in remaining:
            with suppress(OSError):
                if os.getsid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            log.warning("scanner: processes %s of a finished scan did not end", remaining)
            return
        time.sleep(0.05)


def crawl(
    urls: list[str],
    site_key: str,
    origins: list[str],
    *,
    allowed_networks: Iterable[str] | None = None,
    seconds: float | None = None,
) -> Crawl:
    """Visit every URL before and after accept all in the crawler's process; kill it at
    the time limit. The crawler itself stops starting pages a little earlier, so a slow
    site gives a report of the pages it managed, and only a hung browser is killed."""
    if not urls:
        return Crawl()
    seconds = seconds or time_limit()
    user = scanner_user()
    job = Job(
        urls=urls,
        platform_script=reverse("consent-script", kwargs={"site_key": site_key}),
        # The API's calls for the site all start as its config's URL does.
        platform_api=reverse("site-config", kwargs={"site_key": site_key}).rpartition("/")[0] + "/",
        origins=origins,
        allowed_networks=list(
            settings.CONSENT_SCANNER_ALLOWED_NETWORKS
            if allowed_networks is None
            else allowed_networks
        ),
        time_limit=max(1.0, seconds - min(15.0, seconds / 4)),
        kill_after=seconds,
        chromium=chromium_path(),
        sandbox=settings.CONSENT_SCANNER_SANDBOX,
        user=user,
    )
    for entry in job.allowed_networks:
        Allowance.parse(entry)  # a mistyped entry fails the scan in plain words
    with _private_home(user) as home:
        # Nothing of the platform's environment (database URL, secret key) goes along.
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": home, "TMPDIR": home}
        env |= {k: os.environ[k] for k in ("LANG", "PYTHONPATH") if k in os.environ}
        process = subprocess.Popen(
            [sys.executable, "-m", "consent.crawler"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        failure = ""
        try:
            out, err = process.communicate(json.dumps(asdict(job)).encode(), timeout=seconds)
        except subprocess.TimeoutExpired:
            _kill(process)
            _end_browser(home)
            out, err = process.communicate()
            failure = TIME_LIMIT_REACHED.format(seconds=round(seconds))
        except BaseException:
            # Celery's soft time limit, a worker shutting down: the browser goes too.
            _kill(process)
            process.wait()
            raise
        finally:
            _end_browser(home)
    visits = []
    for line in out.decode(errors="replace").splitlines():
        try:
            visits.append(Visit.from_json(line))
        except (ValueError, TypeError, KeyError):
            continue  # the last line of a killed crawler
    if not failure and process.returncode != 0:
        log.warning(
            "scanner: the crawler exited with %s: %s",
            process.returncode,
            err.decode(errors="replace")[-4000:],
        )
        failure = BROWSER_FAILED
    return Crawl(visits, failure)


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


def _messages(refused: list[str], visits: list[Visit]) -> list[str]:
    """What the report says went wrong: fixed sentences only, never a browser's error
    (which would tell staff which internal ports answer)."""
    lines = [f"{url}: not on the site's allowed origins, not visited" for url in refused]
    for seen in visits:
        if seen.error:
            lines.append(f"{seen.url} ({seen.phase}): {seen.error}")
        if seen.blocked:
            shown = ", ".join(seen.blocked[:BLOCKED_SHOWN])
            if len(seen.blocked) > BLOCKED_SHOWN:
                shown += f" and {len(seen.blocked) - BLOCKED_SHOWN} more"
            lines.append(f"{seen.url} ({seen.phase}): requests to {shown} {BLOCKED}")
    return lines


def run(scan_id: int) -> CookieScan:
    """Run a scan. Idempotent: a finished scan is left alone; any other replaces its
    findings as a whole, so a retried scan never lists anything twice."""
    fail_stale_scans()
    scan = CookieScan.objects.select_related("site").get(pk=scan_id)
    if scan.status == JobStatus.DONE:
        return scan
    site = scan.site
    urls = [url for url in scan.url_list() if is_on_site(site, url)]
    refused = [url for url in scan.url_list() if url not in urls]
    with scan.running():
        started = time.time()
        result = crawl(urls, site.key, site.origins())
        if result.failure:
            raise ScanFailed(result.failure)
    with transaction.atomic():
        scan.findings.all().delete()
        ScanFinding.objects.bulk_create(findings_from(scan, result.visits, started))
        scan.finish(error="\n".join(_messages(refused, result.visits)))
    log.info("scan %s: %d pages in %.1fs", scan.pk, len(urls), time.time() - started)
    return scan


def fail_stale_scans() -> int:
    """Mark failed the scans still "running" long after their time limit: their worker or
    process ended (killed, out of memory, a restart) and nobody will finish them."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=time_limit()) - STALE_AFTER
    return CookieScan.objects.filter(status=JobStatus.RUNNING, started_at__lt=cutoff).update(
        status=JobStatus.FAILED, error=PROCESS_LOST, finished_at=now
    )


# --- Without a worker (the embedded mode) -------------------------------------------------


def start_in_background() -> threading.Thread:
    """Run the pending scans in a thread of this process, so that the request asking for a
    scan returns at once (the browser runs in its own process and is killed at the time
    limit, as under a worker). Should this process end first, ``fail_stale_scans`` marks
    the scan failed."""
    thread = threading.Thread(target=_run_pending_then_close, name="cookie-scans", daemon=True)
    thread.start()
    return thread


def _run_pending_then_close() -> None:
    try:
        run_pending()
    except Exception:
        log.exception("scanner: running the pending scans failed")
    finally:
        connections.close_all()


@contextmanager
def _runner_lock():
    """One runner of pending scans per database, across every process of this machine
    (gunicorn's workers in the embedded mode): one browser at a time."""
    database = connection.settings_dict
    name = hashlib.sha256(
        f"{database['ENGINE']}|{database['HOST']}|{database['PORT']}|{database['NAME']}".encode()
    ).hexdigest()[:16]
    path = Path(settings.VAR_DIR) / f"scan-runner-{name}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def _pending() -> list[int]:
    return list(
        CookieScan.objects.filter(status=JobStatus.PENDING)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def run_pending() -> int:
    """Run every pending scan, oldest first, one at a time; returns how many ran.

    A runner that finds another holding the lock leaves its scan to that one, which looks
    for pending scans again after letting the lock go: none is left behind."""
    ran = 0
    while True:
        with _runner_lock() as held:
            if not held:
                return ran
            fail_stale_scans()
            while pending := _pending():
                try:
                    run(pending[0])
                except Exception:
                    log.exception("scanner: scan %s failed", pending[0])
                    CookieScan.objects.filter(pk=pending[0], status=JobStatus.PENDING).update(
                        status=JobStatus.FAILED, error=BROWSER_FAILED, finished_at=timezone.now()
                    )
                ran += 1
        if not _pending():
            return ran


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

    cookies: list[CookieLine] = []
    requests: list[RequestLine] = []
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
    for request in requests:
        if request.vendor is None:
            if request.finding.name not in unknown_hosts:
                unknown_hosts.append(request.finding.name)
            continue
        hosts = seen_vendors.setdefault(request.vendor.pk, (request.vendor, []))[1]
        if request.finding.name not in hosts:
            hosts.append(request.finding.name)
    leaks: list[CookieLine | RequestLine] = [line for line in cookies if line.leak]
    leaks += [line for line in requests if line.leak]
    return Report(
        leaks=leaks,
        cookies=cookies,
        requests=requests,
        unknown=list(unknown.values()),
        vendors=list(seen_vendors.values()),
        unknown_hosts=unknown_hosts,
    )
