"""The demo shop's pages under a real gunicorn with production settings, and raw requests
to them: any Host, several Cookie header lines, every response header as sent."""

import atexit
import http.client
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.appserver import AppServer, production_env, start_gunicorn
from tests.harness import ROOT, database_url_for_workers

# gunicorn refuses a header line longer than this (limit_request_field_size).
MAX_LINE = 8000


def shop_server(tmp_path: Path, **settings: str) -> AppServer:
    """gunicorn (DEBUG off, static files collected as in production) on the test database."""
    env = production_env(database_url_for_workers(), VAR_DIR=_collected_static(), **settings)
    return start_gunicorn(env, tmp_path / "gunicorn.log", workers=1)


@cache
def _collected_static() -> str:
    """A VAR_DIR whose static files are collected, once per test session."""
    var_dir = tempfile.mkdtemp(prefix="consent-static-")
    atexit.register(shutil.rmtree, var_dir, ignore_errors=True)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=production_env("sqlite:///unused", VAR_DIR=var_dir),
        check=True,
    )
    return var_dir


@dataclass
class Page:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def set_cookies(self) -> list[str]:
        return self.all("Set-Cookie")

    def set_cookie_bytes(self) -> int:
        """What the Set-Cookie lines weigh on the wire, "Set-Cookie: " and CRLF included."""
        return sum(len(f"Set-Cookie: {value}\r\n") for value in self.set_cookies())


def cookie_lines(cookies: list[str]) -> list[str]:
    """``name=value`` pairs as Cookie header lines gunicorn accepts. It joins repeated
    headers with "," (not "; "), so every line after the first starts with a throwaway
    cookie that absorbs the join."""
    lines, line = [], ""
    for cookie in cookies:
        if line and len(line) + len(cookie) + 2 > MAX_LINE:
            lines.append(line)
            line = "pad=1"
        line = f"{line}; {cookie}" if line else cookie
    return [*lines, line] if line else lines


def fetch(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: bytes = b"",
    host: str = "127.0.0.1",
    cookies: list[str] = (),
    headers: list[tuple[str, str]] = (),
    timeout: float = 60,
) -> Page:
    """One request on a fresh connection; headers may repeat, as a client may send them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for line in cookie_lines(list(cookies)):
            connection.putheader("Cookie", line)
        for name, value in headers:
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return Page(response.status, response.getheaders(), response.read())
    finally:
        connection.close()
