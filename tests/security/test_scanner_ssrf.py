"""Issue 11, item 5: the cookie scanner cannot be aimed at the machine's own services.

A Marketing ops user registers an origin and scans it; the page there tries every way a
page has to reach an internal service (tests/fixtures/hostile_site.py): elements, fetch,
XHR, beacons, websockets, popups, navigation, preconnect, every spelling of loopback,
302s to the service and to the cloud metadata address. The service records each
connection that reaches it: none may. The scanned page itself is on loopback and allowed
by CONSENT_SCANNER_ALLOWED_NETWORKS for its own address and port only.
"""

import ipaddress
import os
import re
import shutil
import socket
import struct
import threading
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from consent import scanner
from consent.egress import Allowance, Gate, NetworkPolicy, Refused, is_public
from consent.models import CookieScan, JobStatus
from tests.appserver import wait_until
from tests.fixtures import hostile_site
from tests.harness import database_url_for_workers, start_celery_worker

BLOCKED = "blocked by the scanner's network policy"
# What Chromium and Playwright say when a connection fails: which ports answer.
BROWSER_ERROR = re.compile(r"net::|ERR_|Error|[Tt]imeout|refused|reset|closed", re.IGNORECASE)


@pytest.fixture(scope="module")
def hostile():
    served = hostile_site.start()
    yield served
    served.stop()


@pytest.fixture
def attacked(site, hostile, settings) -> hostile_site.HostileSite:
    """The hostile page registered as one of the site's origins; the scanner may reach
    exactly its address and port on loopback, as an operator would allow an intranet site."""
    settings.CONSENT_SCANNER_ALLOWED_NETWORKS = hostile.allowed_networks
    site.allowed_origins += f"\n{hostile.origin}"
    site.save()
    internal_reached_directly(hostile.internal)
    hostile.requests.clear()
    return hostile


def internal_reached_directly(internal: hostile_site.InternalService) -> None:
    """The recorder records: a plain request reaches it (then it is emptied)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{internal.port}/probe", timeout=5) as answer:
        assert answer.read() == b"secret"
    wait_until(lambda: internal.connections, 5, "the internal service recorded nothing")
    internal.connections.clear()


def _stat(proc: Path) -> list[str]:
    # /proc/PID/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces.
    return (proc / "stat").read_text().rsplit(")", 1)[1].split()


def _home(proc: Path) -> str:
    for variable in (proc / "environ").read_bytes().split(b"\0"):
        if variable.startswith(b"HOME="):
            return variable[5:].decode()
    return ""


def _processes() -> list[Path]:
    return [proc for proc in Path("/proc").iterdir() if proc.name.isdigit()]


def crawl_homes(parent: int) -> set[str]:
    """The homes of the crawlers ``parent`` (this test, a worker) started: a scan's
    processes carry it in their environment (tests elsewhere may be scanning too)."""
    homes = set()
    for proc in _processes():
        try:
            if int(_stat(proc)[1]) == parent and "consent-scan-" in _home(proc):
                homes.add(_home(proc))
        except (OSError, ValueError, IndexError):
            continue
    return homes


def processes_of(homes: set[str]) -> list[Path]:
    """The crawler, its driver and its browser (their HOME is the crawl's), and the
    browser's sandboxed children (cleared environment, in the browser's session)."""
    sessions = set()
    for proc in _processes():
        try:
            if _home(proc) in homes:
                sessions.add(int(_stat(proc)[3]))
        except (OSError, ValueError, IndexError):
            continue
    found = []
    for proc in _processes():
        try:
            if int(_stat(proc)[3]) in sessions:
                found.append(proc)
        except (OSError, ValueError, IndexError):
            continue
    return found


def homes_of_scan_under_way(parent: int) -> set[str]:
    homes: set[str] = set()
    wait_until(lambda: homes.update(crawl_homes(parent)) or homes, 60, "no scan started")
    return homes


# --- End to end: a scan of the hostile page ----------------------------------------------


@pytest.mark.django_db
def test_a_hostile_page_reaches_no_internal_service(
    site, attacked, marketing_client, marketing_user
):
    origin, port = attacked.origin, attacked.internal.port
    scan = CookieScan.objects.create(
        site=site, urls=f"{origin}/\n{origin}/to-internal\n{origin}/to-metadata"
    )

    scanner.run(scan.pk)

    assert attacked.internal.connections == []
    scan.refresh_from_db()
    assert scan.status == JobStatus.DONE
    # The page and its own pixel did load: allowed traffic flows.
    assert {"/", "/pixel.gif", "/to-internal", "/to-metadata"} <= set(attacked.requests)
    assert scan.findings.filter(phase="before", kind="cookie", name="loaded").exists()
    lines = scan.error.splitlines()
    page_line = next(line for line in lines if line.startswith(f"{origin}/ (before): requests"))
    for endpoint in (
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"[::1]:{port}",
        f"[::ffff:7f00:1]:{port}",
        f"127.0.0.2:{port}",
        "169.254.169.254:80",
    ):
        assert endpoint in page_line
    assert page_line.endswith(BLOCKED)
    for phase in ("before", "after"):
        assert f"{origin}/to-internal ({phase}): {BLOCKED}" in lines
        assert f"{origin}/to-metadata ({phase}): {BLOCKED}" in lines
    assert not BROWSER_ERROR.search(scan.error)

    site.staff.add(marketing_user)
    report = marketing_client.get(reverse("admin:consent_cookiescan_change", args=[scan.pk]))
    assert report.status_code == 200
    html = report.content.decode()
    assert escape(BLOCKED) in html
    assert not re.search(r"net::|ERR_[A-Z_]", html)


@pytest.mark.django_db
def test_the_sites_own_origin_is_no_licence_to_reach_loopback(site, hostile, settings):
    settings.CONSENT_SCANNER_ALLOWED_NETWORKS = []
    site.allowed_origins += f"\n{hostile.origin}"
    site.save()
    hostile.requests.clear()
    scan = CookieScan.objects.create(site=site, urls=f"{hostile.origin}/")

    scanner.run(scan.pk)

    scan.refresh_from_db()
    assert scan.status == JobStatus.DONE
    assert scan.error.splitlines() == [
        f"{hostile.origin}/ (before): {BLOCKED}",
        f"{hostile.origin}/ (before): requests to {hostile.allowed_networks[0]} {BLOCKED}",
        f"{hostile.origin}/ (after): {BLOCKED}",
        f"{hostile.origin}/ (after): requests to {hostile.allowed_networks[0]} {BLOCKED}",
    ]
    assert hostile.requests == []
    assert not scan.findings.exists()


# --- Not in the admin's request, and within the time limit whatever the pool -------------


# serialized_rollback: an earlier transactional test emptied the tables, the categories
# the migrations made included; this puts them back.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_admin_answers_before_the_scan_runs_and_it_runs_afterwards(
    site, attacked, marketing_client, marketing_user
):
    site.staff.add(marketing_user)

    response = marketing_client.post(
        reverse("admin:consent_cookiescan_add"), {"site": site.pk, "urls": attacked.origin + "/"}
    )

    assert response.status_code == 302
    scan = CookieScan.objects.get()
    assert scan.status in (JobStatus.PENDING, JobStatus.RUNNING)
    assert not scan.findings.exists()

    def done() -> bool:
        scan.refresh_from_db()
        return scan.status == JobStatus.DONE

    wait_until(done, 120, "the scan did not finish in the background")
    assert scan.findings.filter(phase="after", kind="cookie", name="loaded").exists()
    assert attacked.internal.connections == []
    wait_until(
        lambda: not any(t.name == "cookie-scans" for t in threading.enumerate()),
        30,
        "the background runner did not end",
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_scan_whose_process_died_is_marked_failed(site, settings, monkeypatch):
    settings.CONSENT_SCANNER_TIME_LIMIT = 60
    long_ago = timezone.now() - timedelta(seconds=60) - scanner.STALE_AFTER - timedelta(seconds=1)
    lost = CookieScan.objects.create(site=site, urls="https://shop.example/")
    CookieScan.objects.filter(pk=lost.pk).update(status=JobStatus.RUNNING, started_at=long_ago)
    running = CookieScan.objects.create(site=site, urls="https://shop.example/basket")
    CookieScan.objects.filter(pk=running.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )

    # A runner that starts (another scan was asked for) looks for them first.
    scanner.start_in_background().join(60)

    lost.refresh_from_db()
    running.refresh_from_db()
    assert (lost.status, lost.error) == (JobStatus.FAILED, scanner.PROCESS_LOST)
    assert running.status == JobStatus.RUNNING


def start_scanning_worker(redis_server, tmp_path, **env: str):
    """A real worker, ``--pool solo`` like the harness's: Celery's time limits do nothing
    there, so only the scanner's own can hold."""
    return start_celery_worker(
        redis_server.url, database_url_for_workers(), tmp_path / "worker.log", env
    )


def finished(scan: CookieScan) -> bool:
    scan.refresh_from_db()
    return scan.status in (JobStatus.DONE, JobStatus.FAILED)


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_slow_site_is_scanned_as_far_as_the_time_limit_goes(
    site, hostile, redis_server, tmp_path
):
    site.allowed_origins += f"\n{hostile.origin}"
    site.save()
    worker = start_scanning_worker(
        redis_server,
        tmp_path,
        CONSENT_SCANNER_ALLOWED_NETWORKS=",".join(hostile.allowed_networks),
        CONSENT_SCANNER_TIME_LIMIT="12",
    )
    try:
        slow = CookieScan.objects.create(site=site, urls=f"{hostile.origin}/slow")
        worker.client().send_task("consent.tasks.scan_cookies", args=[slow.pk])
        homes = homes_of_scan_under_way(worker.process.pid)
        wait_until(lambda: finished(slow), 60, worker.output())
        assert slow.status == JobStatus.DONE
        assert slow.error.splitlines() == [
            f"{hostile.origin}/slow (after): not visited: the scan reached its time limit"
        ]
        assert not processes_of(homes)
        assert not any(Path(home).exists() for home in homes)

        # A worker killed mid-scan: the crawler ends anyway, the browser with it.
        orphan = CookieScan.objects.create(site=site, urls=f"{hostile.origin}/slow")
        worker.client().send_task("consent.tasks.scan_cookies", args=[orphan.pk])
        homes = homes_of_scan_under_way(worker.process.pid)
        wait_until(lambda: len(processes_of(homes)) > 3, 30, "the browser never started")
        worker.kill()
        wait_until(lambda: not processes_of(homes), 40, "an orphaned browser outlived its limit")
        # Nobody is left to remove the dead worker's browser profile: the test does.
        for home in homes:
            shutil.rmtree(home)
    finally:
        worker.kill()


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_browser_that_never_answers_is_killed_at_the_time_limit(
    site, hostile, redis_server, tmp_path
):
    site.allowed_origins += f"\n{hostile.origin}"
    site.save()
    worker = start_scanning_worker(
        redis_server,
        tmp_path,
        CONSENT_SCANNER_ALLOWED_NETWORKS=",".join(hostile.allowed_networks),
        CONSENT_SCANNER_TIME_LIMIT="8",
        CONSENT_SCANNER_CHROMIUM=str(Path(hostile_site.__file__).with_name("hanging_browser")),
    )
    try:
        stuck = CookieScan.objects.create(site=site, urls=f"{hostile.origin}/")
        worker.client().send_task("consent.tasks.scan_cookies", args=[stuck.pk])
        homes = homes_of_scan_under_way(worker.process.pid)
        wait_until(lambda: finished(stuck), 60, worker.output())
        assert (stuck.status, stuck.error) == (
            JobStatus.FAILED,
            "ScanFailed: stopped at the scan's time limit (8 s): the browser was killed",
        )
        assert not processes_of(homes)

        # The worker is free again: the next task runs.
        next_scan = CookieScan.objects.create(site=site, urls="https://elsewhere.example/")
        worker.client().send_task("consent.tasks.scan_cookies", args=[next_scan.pk])
        wait_until(lambda: finished(next_scan), 60, worker.output())
        assert next_scan.status == JobStatus.DONE
    finally:
        worker.kill()


@pytest.mark.django_db
def test_a_page_whose_accept_all_never_returns_costs_only_its_own_visit(site, attacked):
    scan = CookieScan.objects.create(site=site, urls=f"{attacked.origin}/hang\n{attacked.origin}/")

    scanner.run(scan.pk)

    scan.refresh_from_db()
    assert scan.status == JobStatus.DONE
    assert scan.findings.filter(page_url=f"{attacked.origin}/", name="loaded").count() == 2
    assert f"{attacked.origin}/hang" not in scan.error


def test_the_browser_runs_unprivileged_and_sandboxed(hostile, settings):
    settings.CONSENT_SCANNER_ALLOWED_NETWORKS = hostile.allowed_networks
    crawl = threading.Thread(
        target=scanner.crawl,
        args=([f"{hostile.origin}/slow"], "demo", [hostile.origin]),
        kwargs={"seconds": 10},
    )
    crawl.start()
    try:
        homes = homes_of_scan_under_way(os.getpid())

        def read(proc: Path, name: str) -> str | None:
            """A process's /proc file; None once the process is gone (the browser starts
            and ends helper processes all the time)."""
            try:
                return (proc / name).read_text(errors="replace")
            except (FileNotFoundError, ProcessLookupError):
                return None

        def renderers() -> list[Path]:
            return [
                proc
                for proc in processes_of(homes)
                if "--type=renderer" in (read(proc, "cmdline") or "")
            ]

        def sandboxed(proc: Path) -> bool:
            # seccomp-bpf is applied as the renderer starts up: wait for it.
            status = read(proc, "status")
            return status is None or bool(re.search(r"^Seccomp:\s+2$", status, re.M))

        wait_until(lambda: renderers() and all(map(sandboxed, renderers())), 30, "no sandbox")
        for proc in processes_of(homes):
            cmdline, status = read(proc, "cmdline"), read(proc, "status")
            if cmdline is None or status is None:
                continue  # gone since it was listed
            assert "--no-sandbox" not in cmdline
            uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
            assert "0" not in uids, (proc, uids)
        for proc in renderers():
            try:
                user, net = os.readlink(proc / "ns" / "user"), os.readlink(proc / "ns" / "net")
            except (FileNotFoundError, ProcessLookupError):
                continue
            assert user != os.readlink("/proc/self/ns/user")
            assert net != os.readlink("/proc/self/ns/net")
    finally:
        crawl.join(60)
    # Done at its time limit, the browser is gone and so is its home.
    assert not processes_of(homes)
    assert not any(Path(home).exists() for home in homes)


# --- The rule itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "fd00::1",
        "169.254.169.254",
        "fe80::1",
        "100.64.0.1",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",  # noqa: S104
        "::",
        "240.0.0.1",
        "255.255.255.255",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "fec0::1",
        "198.18.0.1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(Refused):
        NetworkPolicy().addresses(address, 80)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert NetworkPolicy().addresses(address, 443) == [ipaddress.ip_address(address)]


def test_a_name_with_one_internal_address_is_refused_whole():
    policy = NetworkPolicy(resolver=lambda host, port: ["93.184.215.14", "127.0.0.1"])

    with pytest.raises(Refused):
        policy.addresses("two-faced.example", 443)


def test_an_allowance_names_an_address_and_port_not_the_machine():
    policy = NetworkPolicy(["127.0.0.1:8000", "10.0.0.0/8", "[::1]:9000"])

    assert policy.addresses("127.0.0.1", 8000)
    assert policy.addresses("10.20.30.40", 5432)
    assert policy.addresses("::1", 9000)
    assert policy.addresses("::ffff:127.0.0.1", 8000)
    for host, port in [("127.0.0.1", 8001), ("127.0.0.2", 8000), ("::1", 8000)]:
        with pytest.raises(Refused):
            policy.addresses(host, port)


@pytest.mark.parametrize("entry", ["localhost", "127.0.0.1:0", "10.0.0.1/8", "[::1", "::1]:80"])
def test_a_mistyped_allowance_is_a_system_check_error(entry, settings):
    with pytest.raises(ValueError):
        Allowance.parse(entry)
    settings.CONSENT_SCANNER_ALLOWED_NETWORKS = [entry]

    errors = scanner.check_allowed_networks(None)

    assert [error.id for error in errors] == ["consent.E101"]
    with pytest.raises(SystemCheckError, match=r"consent\.E101"):
        call_command("check")


def socks_connect(gate: Gate, host: str, port: int) -> tuple[int, socket.socket]:
    """A SOCKS5 CONNECT by host name, as Chromium sends it; returns the reply code."""
    client = socket.create_connection(("127.0.0.1", int(gate.url.rsplit(":", 1)[1])), 5)
    client.sendall(b"\x05\x01\x00")
    assert client.recv(2) == b"\x05\x00"
    name = host.encode()
    client.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", port))
    reply = client.recv(10)
    return reply[1], client


def test_dns_rebinding_reaches_only_the_address_that_was_checked():
    """The attacker's name answers a permitted address when checked and loopback the next
    time. The gate connects to the address it checked, and checks every connection anew."""
    permitted = hostile_site.InternalService("127.0.0.2")
    internal = hostile_site.InternalService("127.0.0.1", permitted.port)
    answers = iter([["127.0.0.2"], ["127.0.0.1"]])
    policy = NetworkPolicy(["127.0.0.2"], resolver=lambda host, port: next(answers))
    try:
        with Gate(policy) as gate:
            code, first = socks_connect(gate, "rebind.attacker.example", permitted.port)
            assert code == 0
            first.sendall(b"GET / HTTP/1.1\r\nHost: rebind.attacker.example\r\n\r\n")
            assert first.recv(100).startswith(b"HTTP/1.1 200")
            code, second = socks_connect(gate, "rebind.attacker.example", permitted.port)
            assert code == 2  # connection not allowed by ruleset
            first.close()
            second.close()
        assert [line for _, line in permitted.connections] == ["GET / HTTP/1.1"]
        assert internal.connections == []
        assert gate.take_refused() == [f"rebind.attacker.example:{permitted.port}"]
    finally:
        internal.stop()
        permitted.stop()
