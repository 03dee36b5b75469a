"""A site in remote mode, in the test process, against the platform under ``live_server``.

Between the two sits ``Relay``: a real HTTP hop that passes requests on to the platform
and records them, and that can be taken down (connections refused) or made to answer
what a broken platform would. ``remote_site`` points the site's settings at it; the
feed's own thread asks only once (the refresh interval is an hour), so a test makes each
further refresh happen with ``refresh()``.
"""

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from consent import remote
from tests.harness import free_port


@dataclass
class Relay:
    upstream: str
    port: int = field(default_factory=free_port)
    requests: list[dict[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    # (status, body) to answer instead of the platform; None: pass requests on.
    answer: tuple[int, bytes] | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Relay":
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                relay.requests.append({"path": self.path, **dict(self.headers)})
                status, body, headers = relay._answer(self.path, dict(self.headers))
                relay.statuses.append(status)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: connections to it are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _answer(self, path: str, headers: dict[str, str]):
        if self.answer is not None:
            return (*self.answer, [("Content-Type", "application/json")])
        passed_on = {k: v for k, v in headers.items() if k in ("If-None-Match", "Accept")}
        request = urllib.request.Request(self.upstream + path, headers=passed_on)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), _kept_headers(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), _kept_headers(error.headers)


def _kept_headers(headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k in ("Content-Type", "ETag", "Cache-Control")]


@pytest.fixture
def relay(live_server) -> Iterator[Relay]:
    relay = Relay(live_server.url).start()
    yield relay
    relay.stop()


@pytest.fixture
def remote_site(settings, relay, site, tmp_path) -> Iterator[Relay]:
    """This process as a site in remote mode whose platform is behind ``relay``."""
    settings.CONSENT_PLATFORM_URL = relay.url
    settings.CONSENT_SITE_KEY = "demo"
    settings.CONSENT_REMOTE_RULES_FILE = str(tmp_path / "rules" / "demo.json")
    settings.CONSENT_REMOTE_REFRESH_SECONDS = 3600
    settings.CONSENT_REMOTE_TIMEOUT = 5
    settings.CONSENT_ENFORCED_PATHS = ["/"]
    yield relay
    remote.forget()


def refresh() -> None:
    """One more round of the feed's thread, now."""
    feed = remote.feed()
    assert feed is not None
    feed.first_answer.wait(10)
    feed.refresh()
