"""Where the cookie scanner's browser may connect: public addresses, and what a setting names.

Staff choose the pages the scanner opens, and those pages choose what the browser fetches
next: an ``<img>`` of ``http://127.0.0.1:6379/``, a redirect to the cloud's metadata
address, a ``fetch()`` into the office network. The browser must never become the
server's hands on its own network (SSRF). So every connection it makes goes through the
gate below, a SOCKS5 proxy on a loopback port that

- resolves the host itself and refuses it if any of its addresses is not public
  (loopback, private, link-local and metadata, CGNAT, multicast, unspecified, reserved,
  and the IPv6 forms that embed such an IPv4 address), unless an entry of
  ``CONSENT_SCANNER_ALLOWED_NETWORKS`` names it;
- connects to exactly the address it checked, so a DNS answer that changes between the
  check and the connection (DNS rebinding) reaches nothing new.

Chromium resolves no name itself while it uses the gate (Playwright maps every host to
"not found" for a SOCKS proxy), so the rule holds for redirects, iframes, websockets and
anything else the browser does, including what Playwright's request routing does not see.

No Django here: this runs in the crawler's own unprivileged process (consent.crawler).
"""

import contextlib
import ipaddress
import selectors
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the name resolves to, as strings.
Resolver = Callable[[str, int], list[str]]

# RFC 6052: the well-known NAT64 prefix carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


class Refused(Exception):
    """The network policy does not let the scanner's browser reach this host."""


def is_public(ip: IPAddress) -> bool:
    """Whether an address is on the public internet, judged by the ipaddress module's
    registry properties. IPv6 forms of an IPv4 address (mapped, NAT64, 6to4) are judged
    by the IPv4 address they reach."""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip in NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
        if ip.sixtofour is not None and not is_public(ip.sixtofour):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


@dataclass(frozen=True)
class Allowance:
    """One entry of CONSENT_SCANNER_ALLOWED_NETWORKS: a network, and a port if given."""

    network: IPNetwork
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> "Allowance":
        """``10.0.0.0/8``, ``192.168.1.5``, ``127.0.0.1:8000``, ``fd00::/8``, ``[::1]:8000``
        or ``[fd00::/8]:443``. CIDRs carry no port, so an entry may add one: the test
        suite allows exactly its fixture's origin, not the rest of the machine."""
        text, port = entry.strip(), None
        if text.startswith("["):
            text, bracket, rest = text[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"{entry!r}: write [IPv6 address or network]:port")
            port = rest[1:] or None
        elif text.count(":") == 1:
            text, port = text.split(":")
        try:
            network = ipaddress.ip_network(text)
        except ValueError:
            raise ValueError(f"{entry!r} is not an address, a network or address:port") from None
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
        return cls(network, int(port) if port else None)

    def covers(self, ip: IPAddress, port: int) -> bool:
        return ip in self.network and (self.port is None or self.port == port)


def resolve(host: str, port: int) -> list[str]:
    """The addresses a host name stands for; an address literal stands for itself."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class NetworkPolicy:
    """The one rule for every connection of the scanning browser."""

    def __init__(self, allowed: Iterable[str] = (), resolver: Resolver = resolve) -> None:
        self.allowances = [Allowance.parse(entry) for entry in allowed]
        self.resolver = resolver

    def permits(self, ip: IPAddress, port: int) -> bool:
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(a.covers(ip, port) for a in self.allowances) or is_public(ip)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses to connect to for ``host:port``. Refused when the name
        does not resolve, or when any one of its addresses is not permitted: a name with
        one public and one loopback address would let the browser pick the second."""
        host = host.strip("[]").rstrip(".").lower()
        try:
            found = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
        except (OSError, UnicodeError, ValueError):
            raise Refused(f"{host}:{port}") from None
        if not found or not all(self.permits(ip, port) for ip in found):
            raise Refused(f"{host}:{port}")
        return found

    def check_url(self, url: str) -> None:
        """Refuse a URL the browser is about to request (page routing, before the gate)."""
        parts = urlsplit(url)
        try:
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            port = None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
            raise Refused(url[:200])
        self.addresses(parts.hostname, port)


def endpoint(url: str) -> str:
    """``host:port`` of a URL, the way refusals are reported."""
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        port = None
    host = parts.hostname or ""
    where = f"[{host}]" if ":" in host else host
    return f"{where}:{port or ''}"


# --- The gate: a SOCKS5 proxy (RFC 1928, CONNECT only, no authentication) ------------------

SOCKS_VERSION = 5
SUCCEEDED, NOT_ALLOWED, HOST_UNREACHABLE, COMMAND_UNSUPPORTED, ADDRESS_UNSUPPORTED = (
    0,
    2,
    4,
    7,
    8,
)


class Gate:
    """The browser's only way out. Refusals are kept (``host:port``) for the report."""

    def __init__(
        self, policy: NetworkPolicy, connect_timeout: float = 10.0, idle_timeout: float = 60.0
    ) -> None:
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self._refused: list[str] = []
        self._lock = threading.Lock()
        self._server = _SocksServer(("127.0.0.1", 0), _SocksHandler)
        self._server.gate = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "Gate":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refuse(self, host: str, port: int) -> None:
        with self._lock:
            self._refused.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")

    def take_refused(self) -> list[str]:
        """The refusals since the last call, oldest first."""
        with self._lock:
            refused, self._refused = self._refused, []
        return refused

    def refused_so_far(self) -> list[str]:
        with self._lock:
            return list(self._refused)


class _SocksServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    gate: Gate


class _SocksHandler(socketserver.BaseRequestHandler):
    server: _SocksServer

    def handle(self) -> None:
        gate = self.server.gate
        client: socket.socket = self.request
        client.settimeout(gate.idle_timeout)
        try:
            target = self._negotiate(client)
            if target is None:
                return
            host, port = target
            try:
                addresses = gate.policy.addresses(host, port)
            except Refused:
                gate.refuse(host.strip("[]").lower(), port)
                self._reply(client, NOT_ALLOWED)
                return
            upstream = self._connect(addresses, port, gate.connect_timeout)
            if upstream is None:
                self._reply(client, HOST_UNREACHABLE)
                return
            with upstream:
                upstream.settimeout(gate.idle_timeout)
                self._reply(client, SUCCEEDED)
                _splice(client, upstream, gate.idle_timeout)
        except (OSError, ValueError, struct.error):
            return

    @staticmethod
    def _read(sock: socket.socket, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ValueError("the client closed the connection")
            data += chunk
        return data

    def _negotiate(self, client: socket.socket) -> tuple[str, int] | None:
        version, count = self._read(client, 2)
        methods = self._read(client, count)
        if version != SOCKS_VERSION or 0 not in methods:
            client.sendall(bytes([SOCKS_VERSION, 0xFF]))
            return None
        client.sendall(bytes([SOCKS_VERSION, 0]))
        version, command, _, kind = self._read(client, 4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, self._read(client, 4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, self._read(client, 16))
        elif kind == 3:
            host = self._read(client, self._read(client, 1)[0]).decode("ascii")
        else:
            self._reply(client, ADDRESS_UNSUPPORTED)
            return None
        (port,) = struct.unpack("!H", self._read(client, 2))
        if version != SOCKS_VERSION or command != 1:
            self._reply(client, COMMAND_UNSUPPORTED)
            return None
        return host, port

    @staticmethod
    def _connect(addresses: list[IPAddress], port: int, timeout: float) -> socket.socket | None:
        for ip in addresses:
            try:
                return socket.create_connection((str(ip), port), timeout=timeout)
            except OSError:
                continue
        return None

    @staticmethod
    def _reply(client: socket.socket, code: int) -> None:
        client.sendall(bytes([SOCKS_VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0]))


def _splice(a: socket.socket, b: socket.socket, idle_timeout: float) -> None:
    """Copy bytes both ways until both sides are done or nothing moves for a while."""
    peer = {a: b, b: a}
    sending = {a, b}
    with selectors.DefaultSelector() as selector:
        for sock in (a, b):
            selector.register(sock, selectors.EVENT_READ, data=sock)
        while sending:
            ready = selector.select(idle_timeout)
            if not ready:
                return
            for key, _ in ready:
                source: socket.socket = key.data
                data = source.recv(65536)
                if data:
                    peer[source].sendall(data)
                    continue
                selector.unregister(source)
                sending.discard(source)
                with contextlib.suppress(OSError):
                    peer[source].shutdown(socket.SHUT_WR)
