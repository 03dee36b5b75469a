"""Fixtures for the browser suite: the real platform, a site on another origin, a tracker.

- ``platform``: the Django app under ``manage.py runserver`` on a free loopback port, with
  a throwaway SQLite database that is migrated and seeded (``seed_demo``) first.
- ``site``: the demo shop page (site/shop.html) served from http://localhost:PORT, so the
  embed from http://127.0.0.1:PORT is cross-site as on a real site, and a "tracker" on
  a third origin serving the gated vendor scripts, iframe and pixel. The vendor scripts
  record that they ran (``window.__ran``) and set the cookies their vendors would.
- ``open_page``: a fresh browser context and page in Debian's chromium, per test.
- Auto-blocking: ``vendors`` answers for the vendors' real host names
  (www.googletagmanager.com, connect.facebook.net, ...), which Chromium resolves to it
  (``--host-resolver-rules``; every other name but localhost resolves to nothing, so
  nothing leaves the machine), over HTTPS with a throwaway certificate, and records every
  request by its Host header. ``autoblock_platform`` is a platform whose demo site has
  auto-blocking on and serves a Django page with the vendors' snippets in its markup;
  ``autoblock_site`` serves the same snippets without Django and a page whose tag manager
  adds them at run time; ``open_vendor_page`` opens one of them.
"""

import datetime
import itertools
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest

from consent.chromium import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"

VENDOR_SCRIPTS = {
    # Google Analytics (functional): its cookie and one matching the pattern _ga_*.
    "/ga.js": 'document.cookie = "_ga=GA1.1; path=/; max-age=3600";'
    'document.cookie = "_ga_TEST=GS1.1; path=/; max-age=3600";',
    # Meta Pixel and Google Ads (advertising); _gcl_au on the page's own path, so
    # deleting it needs the path variants.
    "/ads.js": 'document.cookie = "_fbp=fb.1; path=/; max-age=3600";'
    'document.cookie = "_gcl_au=1.1; path=/shop; max-age=3600";',
}
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


T = TypeVar("T")


def wait_until(page, condition: Callable[[], T], what: str, timeout: float = 10) -> T:
    """Polls ``condition`` until it returns something truthy, and returns that; fails
    naming ``what`` after ``timeout`` seconds. For what only Python can see (the browser's
    cookie jar, the tracker's log): a condition in the page is awaited with
    ``page.wait_for_function("() => ...")`` instead. Between polls the page's own wait
    runs, so Playwright keeps delivering the page's events."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        page.wait_for_timeout(50)
    return result


# Names of the marker tags Visit.ran_once_settled() adds, unique within the run.
MARKERS = (f"marker-{number}" for number in itertools.count(1))

# Adds a gated inline script of the required category (always allowed) at the end of
# <body>; it records its name in window.__ran when it runs. The nonce is the shop's, so it
# runs under the strict CSP too.
ADD_MARKER = """(name) => {
    const tag = document.createElement("script");
    tag.type = "text/plain";
    tag.nonce = "e2e";
    tag.dataset.consent = "required";
    tag.textContent = `(window.__ran = window.__ran || []).push(${JSON.stringify(name)});`;
    document.body.append(tag);
}"""


@dataclass
class Platform:
    url: str
    log: Path

    def receipt(self, consent_id: str) -> dict | None:
        """The visitor's receipt and history from GET /api/v1/consents/<id>; None if 404."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/consents/{consent_id}") as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def wait_for_receipt(self, consent_id: str, records: int = 1, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = self.receipt(consent_id)
            if found and len(found["history"]) >= records:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {records} record(s) for {consent_id}: {found}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    site_origin = f"http://localhost:{SITE_PORT}"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="consent-e2e-") as scratch:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{scratch}/consent.sqlite3",
            "VAR_DIR": scratch,
            "DEBUG": "1",
            "CONSENT_THROTTLE_RATE": "10000/min",
            "RECEIPT_THROTTLE_RATE": "10000/min",
        }
        env.pop("REDIS_URL", None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run(
            [*manage, "migrate", "--noinput"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        subprocess.run(
            [*manage, "seed_demo", "--no-users", "--origin", site_origin],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log = Path(scratch) / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                wait_for(f"{url}/c/demo.js")
                yield Platform(url, log)
            finally:
                server.terminate()
                server.wait(10)


SITE_PORT = free_port()


@dataclass
class Site:
    url: str
    csp_url: str
    tracker: str
    tracker_hits: list[str] = field(default_factory=list)


def serve(handler: type[BaseHTTPRequestHandler], port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def site(platform: Platform) -> Iterator[Site]:
    tracker_port = free_port()
    site = Site(
        url=f"http://localhost:{SITE_PORT}/shop/",
        csp_url=f"http://localhost:{SITE_PORT}/shop/?csp",
        tracker=f"http://localhost:{tracker_port}",
    )
    page = (HERE / "site" / "shop.html").read_text()
    page = page.replace("{platform}", platform.url).replace("{tracker}", site.tracker).encode()
    # What a careful site sends: the banner must work without inline styles or eval.
    csp = (
        f"default-src 'self'; script-src 'self' {platform.url} {site.tracker} 'nonce-e2e'; "
        f"style-src 'self'; connect-src {platform.url}; frame-src {site.tracker}; "
        f"img-src {site.tracker}"
    )

    class SiteHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            if not self.path.startswith("/shop/"):
                self.send_error(404)
                return
            body = page
            # /shop/<lang>/ is the same page in another language: <html lang="<lang>">.
            if language := self.path.split("?")[0].removeprefix("/shop/").strip("/"):
                body = page.replace(b'<html lang="en">', f'<html lang="{language}">'.encode())
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            if self.path.endswith("?csp"):
                self.send_header("Content-Security-Policy", csp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class TrackerHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            site.tracker_hits.append(self.path)
            name = self.path.split("?")[0]
            if name in VENDOR_SCRIPTS:
                run = name.strip("/").removesuffix(".js")
                body = (
                    f'(window.__ran = window.__ran || []).push("{run}");' + VENDOR_SCRIPTS[name]
                ).encode()
                content_type = "text/javascript"
            elif name == "/video.html":
                body = b"<!doctype html><title>Video</title><p>A teapot video.</p>"
                content_type = "text/html"
            elif name == "/p.gif":
                body, content_type = PIXEL, "image/gif"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    servers = [serve(SiteHandler, SITE_PORT), serve(TrackerHandler, tracker_port)]
    yield site
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, vendors: "Vendors") -> dict:
    # The vendors' hosts are the local stand-in; nothing else resolves but this machine.
    rules = ", ".join(
        [f"MAP {host} 127.0.0.1:{vendors.port}" for host in VENDOR_HOSTS]
        + ["MAP * ~NOTFOUND", "EXCLUDE localhost", "EXCLUDE 127.0.0.1"]
    )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*CHROMIUM_ARGS, f"--host-resolver-rules={rules}", "--ignore-certificate-errors"],
    }


@dataclass
class Visit:
    """A page of the demo shop and everything it requested."""

    page: object
    requests: list[str]
    site: Site
    platform: Platform
    tracker_hits_before: int

    def tracker_requests(self) -> list[str]:
        """What the page asked of the tracker, as the browser and the tracker saw it."""
        seen = [url for url in self.requests if url.startswith(self.site.tracker)]
        return seen + self.site.tracker_hits[self.tracker_hits_before :]

    def queued(self) -> list:
        return self.page.evaluate("JSON.parse(localStorage['consent:queue'] || '[]')")

    def ran(self) -> list[str]:
        return self.page.evaluate("window.__ran || []")

    def wait_for_ran(self, count: int, timeout: float = 10) -> list[str]:
        """Waits until ``count`` gated tags ran. A function, not an expression: the strict
        CSP forbids evaluating a string, not calling a function."""
        self.page.wait_for_function(
            "(count) => (window.__ran || []).length >= count", arg=count, timeout=timeout * 1000
        )
        return self.ran()

    def ran_once_settled(self, timeout: float = 10) -> list[str]:
        """What ran, once every gated tag added so far had its turn: how a test proves a
        tag did NOT run without sleeping. A marker tag of the required category is added
        last and awaited; gated tags run one at a time in document order (an external
        one awaited before the next), and tags added later in the order they were added,
        so when the marker has run, every tag before it that was going to run has run.
        The markers are left out of the answer."""
        marker = next(MARKERS)
        self.page.evaluate(ADD_MARKER, marker)
        self.page.wait_for_function(
            "(name) => (window.__ran || []).includes(name)", arg=marker, timeout=timeout * 1000
        )
        return [name for name in self.ran() if not name.startswith("marker-")]

    def wait_for_queue_to_empty(self, timeout: float = 10) -> None:
        """Waits until every decision in the retry queue was answered by the platform."""
        self.page.wait_for_function(
            "() => JSON.parse(localStorage['consent:queue'] || '[]').length === 0",
            timeout=timeout * 1000,
        )

    def wait_for_tracker_request(self, path: str, timeout: float = 10) -> list[str]:
        """Waits until the page asked the tracker for ``path``; returns all it asked for."""
        url = self.site.tracker + path
        return wait_until(
            self.page,
            lambda: url in (requests := self.tracker_requests()) and requests,
            f"a request for {url}",
            timeout,
        )

    def wait_for_cookies(self, names: set[str], timeout: float = 5) -> dict[str, str]:
        """The cookies once all of ``names`` are in the browser's jar, which lags the page's
        document.cookie writes."""
        return wait_until(
            self.page,
            lambda: names <= (cookies := self.cookies()).keys() and cookies,
            f"the cookies {sorted(names)}",
            timeout,
        )

    def cookies(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self.page.context.cookies()}

    def cookies_after_deletion(self, names: set[str], timeout: float = 5) -> dict[str, str]:
        """The cookies once none of ``names`` is left (or the timeout passed): the browser
        applies document.cookie writes asynchronously, so the store lags the page."""
        deadline = time.monotonic() + timeout
        while (cookies := self.cookies()).keys() & names and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        return cookies

    def banner(self):
        return self.page.get_by_role("dialog", name="Cookie preferences", exact=True)

    def preferences(self):
        return self.page.get_by_role("dialog", name="Cookie Preferences", exact=True)

    def consent_id(self) -> str:
        return self.page.evaluate("Consent.get().id")


@pytest.fixture
def open_page(browser, site: Site, platform: Platform):
    """open_page(**context_options) -> Visit of a fresh context on the shop page."""
    contexts = []

    def open_(url: str | None = None, init_script: str | None = None, **options) -> Visit:
        context = browser.new_context(**options)
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        hits_before = len(site.tracker_hits)
        page.goto(url or site.url)
        return Visit(page, requests, site, platform, hits_before)

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@contextmanager
def own_platform(
    prepare: str = "", site_origin: str | None = None, **settings: str
) -> Iterator[Platform]:
    """A platform of its own, like ``platform`` but on a database no other test shares,
    for a test that changes its data: migrated, seeded (the demo site's origins are the
    platform's own and ``site_origin``, if given), then the Python code ``prepare`` run in
    ``manage.py shell`` before the server starts."""
    port = free_port()
    origins = ["--origin", f"http://127.0.0.1:{port}"]
    if site_origin:
        origins += ["--origin", site_origin]
    with tempfile.TemporaryDirectory(prefix="consent-e2e-own-") as scratch:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{scratch}/consent.sqlite3",
            "VAR_DIR": scratch,
            "DEBUG": "1",
            "CONSENT_THROTTLE_RATE": "10000/min",
            "RECEIPT_THROTTLE_RATE": "10000/min",
            **settings,
        }
        env.pop("REDIS_URL", None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        quiet = {"env": env, "check": True, "stdout": subprocess.DEVNULL}
        subprocess.run([*manage, "migrate", "--noinput"], **quiet)
        subprocess.run([*manage, "seed_demo", "--no-users", *origins], **quiet)
        if prepare:
            subprocess.run([*manage, "shell", "--command", prepare], **quiet)
        log = Path(scratch) / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                wait_for(f"{url}/admin/login/")
                yield Platform(url, log)
            finally:
                server.terminate()
                server.wait(10)


# --- Auto-blocking ------------------------------------------------------------------------

# The vendors' real hosts, as their snippets name them; Chromium resolves each to the
# stand-in (browser_type_launch_args).
VENDOR_HOSTS = (
    "www.googletagmanager.com",
    "www.google-analytics.com",
    "connect.facebook.net",
    "www.facebook.com",
    "snap.licdn.com",
    "px.ads.linkedin.com",
    "static.hotjar.com",
    "www.youtube.com",
    "maps.google.com",
)
# What each vendor script does when it runs: records its name and sets its vendor's cookie
# (the Google tag also sends its page view, by sendBeacon, as the real one does).
GTAG_PAGE_VIEW = "/g/collect?v=2&en=page_view"
VENDOR_CODE = {
    ("www.googletagmanager.com", "/gtag/js"): ("gtag", "_ga=GA1.1.1; path=/; max-age=3600"),
    ("connect.facebook.net", "/en_US/fbevents.js"): ("meta", "_fbp=fb.1.1; path=/; max-age=3600"),
    ("snap.licdn.com", "/li.lms-analytics/insight.min.js"): (
        "linkedin",
        "li_fat_id=1; path=/; max-age=3600",
    ),
    ("static.hotjar.com", "/c/hotjar-"): ("hotjar", "_hjSessionUser_1=1; path=/; max-age=3600"),
}
VENDOR_COOKIES = {"_ga", "_fbp", "li_fat_id", "_hjSessionUser_1"}
# The demo site with auto-blocking on, and the vendors of the snippets it lacks.
AUTOBLOCK_PREPARE = """
from consent.models import Category, Site, Vendor
site = Site.objects.get(key="demo")
site.auto_blocking = True
site.save()
categories = {c.slug: c for c in Category.objects.all()}
for name, slug, hosts in [
    ("LinkedIn Insight", "advertising", "snap.licdn.com\\npx.ads.linkedin.com"),
    ("Hotjar", "functional", "static.hotjar.com\\nscript.hotjar.com"),
    ("Google Maps", "functional", "maps.google.com"),
]:
    Vendor.objects.get_or_create(site=site, name=name, defaults={"category": categories[slug], "hosts": hosts})
"""
AUTOBLOCK_SITE_PORT = free_port()


@dataclass
class Vendors:
    """The stand-in for every vendor host: the requests it answered, (Host, path)."""

    port: int
    hits: list[tuple[str, str]] = field(default_factory=list)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor stand-in")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in VENDOR_HOSTS]), False)
        .sign(key, hashes.SHA256())
    )
    cert, key_file = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


@pytest.fixture(scope="session")
def vendors() -> Iterator[Vendors]:
    stand_in = Vendors(port=free_port())

    class VendorHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0]
            stand_in.hits.append((host, self.path))
            path = self.path.split("?")[0]
            code = next(
                (v for (h, p), v in VENDOR_CODE.items() if h == host and path.startswith(p)),
                None,
            )
            if code:
                name, cookie = code
                body = (
                    f"(window.__ran = window.__ran || []).push({json.dumps(name)});"
                    f"document.cookie = {json.dumps(cookie)};"
                    + (
                        f"navigator.sendBeacon('https://www.google-analytics.com{GTAG_PAGE_VIEW}');"
                        if name == "gtag"
                        else ""
                    )
                ).encode()
                content_type = "text/javascript"
            elif path.endswith((".gif", "/tr", "/collect/")):
                body, content_type = PIXEL, "image/gif"
            elif host in ("www.youtube.com", "www.facebook.com", "maps.google.com"):
                body = f"<!doctype html><title>{host}</title><p>{host} embed".encode()
                content_type = "text/html"
            else:
                body, content_type = b"", "text/plain"
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    with tempfile.TemporaryDirectory(prefix="consent-e2e-vendors-") as scratch:
        cert, key = self_signed_certificate(Path(scratch))
        server = ThreadingHTTPServer(("127.0.0.1", stand_in.port), VendorHandler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield stand_in
        finally:
            server.shutdown()


@pytest.fixture(scope="session")
def autoblock_platform(vendors: Vendors) -> Iterator[Platform]:
    """A platform whose demo site holds vendors back without markup, serving a Django
    page with the vendors' snippets in it at /demo/vendor-snippets/."""
    with own_platform(
        AUTOBLOCK_PREPARE,
        site_origin=f"http://localhost:{AUTOBLOCK_SITE_PORT}",
        DJANGO_SETTINGS_MODULE="e2e.site.settings",
    ) as platform:
        yield platform


@dataclass
class AutoblockSite:
    url: str  # its origin
    platform: Platform


@pytest.fixture(scope="session")
def autoblock_site(autoblock_platform: Platform) -> Iterator[AutoblockSite]:
    """A site that is not a Django one (no rewriting on the server): the vendors' snippets
    in its markup (/vendor-snippets.html) and added by its tag manager (/tag-manager.html)."""
    files = {
        "/vendor-snippets.html": ("vendor-snippets.html", "text/html; charset=utf-8"),
        "/tag-manager.html": ("tag-manager.html", "text/html; charset=utf-8"),
        "/first-party.js": ("first-party.js", "text/javascript"),
        "/tag-manager.js": ("tag-manager.js", "text/javascript"),
    }
    banner = f"{autoblock_platform.url}/c/demo.js"

    class AutoblockHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/ping":
                body, content_type = b"pong", "text/plain"
            elif path in files:
                name, content_type = files[path]
                text = (
                    (HERE / "site" / name)
                    .read_text()
                    .replace("{banner}", banner)
                    .replace("{first_party}", "")
                    .replace(' nonce="{nonce}"', "")
                )
                # ?lang=de: the same page in another language.
                if query.startswith("lang="):
                    language = query.removeprefix("lang=")
                    text = text.replace('<html lang="en">', f'<html lang="{language}">')
                body = text.encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = serve(AutoblockHandler, AUTOBLOCK_SITE_PORT)
    yield AutoblockSite(f"http://localhost:{AUTOBLOCK_SITE_PORT}", autoblock_platform)
    server.shutdown()


@dataclass
class VendorVisit:
    """A page holding the vendors' tags, and what it asked of their hosts."""

    page: object
    requests: list[str]  # every URL the browser asked for, as it saw them
    vendors: Vendors
    platform: Platform
    hits_before: int

    def mark(self) -> tuple[int, int]:
        """Where the requests are now, for ``vendor_requests(since=...)``."""
        return len(self.requests), len(self.vendors.hits)

    def vendor_requests(self, since: tuple[int, int] | None = None) -> list[str]:
        """What the page asked of vendor hosts (since a ``mark``): what the browser tried
        (a request it started and cancelled counts) and what reached the stand-in."""
        tried_from, reached_from = since or (0, self.hits_before)
        hosts = tuple(f"https://{host}/" for host in VENDOR_HOSTS)
        tried = [url for url in self.requests[tried_from:] if url.startswith(hosts)]
        reached = [f"https://{host}{path}" for host, path in self.vendors.hits[reached_from:]]
        return tried + reached

    def reached(self, host: str) -> list[str]:
        """The paths the stand-in was asked for on ``host``, since the page opened."""
        return [path for h, path in self.vendors.hits[self.hits_before :] if h == host]

    def ran(self) -> list[str]:
        return self.page.evaluate("window.__ran || []")

    def wait_for(self, condition: str, arg=None, timeout: float = 10) -> None:
        self.page.wait_for_function(condition, arg=arg, timeout=timeout * 1000)

    def settle(self) -> None:
        """Waits until the page loaded (its iframes too) and, on a page with the tag
        manager, until it added everything and its last request (to the site itself, sent
        after every vendor tag) was answered: a vendor request made before it would be
        among ``requests`` by then."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_function(
            "() => !window.__tm || window.__tm.some(e => e.endsWith('first-party fetch sent'))"
        )

    def cookies(self) -> set[str]:
        return {c["name"] for c in self.page.context.cookies()}

    def consent_id(self) -> str:
        return self.page.evaluate("Consent.get().id")


@pytest.fixture
def open_vendor_page(browser, vendors: Vendors, autoblock_platform: Platform):
    """open_vendor_page(url, init_script=None, **context_options) -> VendorVisit."""
    contexts = []

    def open_(url: str, init_script: str | None = None, **options) -> VendorVisit:
        context = browser.new_context(**options)
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        hits_before = len(vendors.hits)
        page.goto(url)
        return VendorVisit(page, requests, vendors, autoblock_platform, hits_before)

    yield open_
    for context in contexts:
        context.close()
