"""The platform under gunicorn, as in production, for load and fault tests and benchmarks.

A real server process on a free loopback port, with production settings (``DEBUG`` off)
and whatever database and Redis the caller points it at.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.harness import ROOT, free_port, wait_for_port

SITE_ORIGIN = "https://shop.example"
CONSENT_BODY = {
    "categories": {"functional": True, "advertising": False},
    "policy_version": 1,
    "method": "custom",
    "language": "en",
    "page_url": "https://shop.example/basket",
}


def production_env(database_url: str, redis_url: str = "", **extra: str) -> dict[str, str]:
    """Production settings for a loopback server: DEBUG off, no TLS redirect."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "REDIS_URL")}
    return (
        env
        | {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "loopback-only-server-secret-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "BEHIND_HTTPS_PROXY": "0",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0" if redis_url else "1",
            # Every client of a load test comes from 127.0.0.1: the throttle must not count them.
            "CONSENT_THROTTLE_RATE": "100000000/min",
            "CONSENT_SITE_THROTTLE_RATE": "100000000/min",
            "LOG_LEVEL": "WARNING",
        }
        | extra
    )


@dataclass
class AppServer:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_gunicorn(
    env: dict[str, str],
    log: Path,
    *,
    app: str = "config.wsgi:application",
    workers: int = 2,
    worker_class: str | None = None,
    threads: int | None = None,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> AppServer:
    """gunicorn with the production settings (config/gunicorn.conf.py: threaded workers),
    on a free loopback port; ``worker_class`` and ``threads`` override them."""
    port = free_port()
    handle = log.open("w")
    overrides = []
    if worker_class:
        overrides += ["--worker-class", worker_class]
    if threads:
        overrides += ["--threads", str(threads)]
    process = subprocess.Popen(
        [
            python,
            "-m",
            "gunicorn",
            app,
            "--config",
            str(ROOT / "config" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            *overrides,
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=60)
    except RuntimeError:
        process.kill()
        raise RuntimeError("gunicorn did not start:\n" + log.read_text()) from None
    return AppServer(process, port, log)


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict[str, str]


def request_json(
    port: int,
    method: str,
    path: str,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Answer:
    """One request on a fresh connection, its JSON answer decoded (``{"raw": ...}`` when
    the answer is not JSON)."""
    headers = dict(headers or {})
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"raw": raw.decode(errors="replace")}
        return Answer(response.status, data, {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()


def post_consent(
    port: int, body: dict, *, origin: str = SITE_ORIGIN, timeout: float = 60
) -> Answer:
    """One POST on a fresh connection, as a browser of a different visitor would make it."""
    return request_json(
        port, "POST", "/api/v1/sites/demo/consents", body, {"Origin": origin}, timeout
    )


def get(port: int, path: str, timeout: float = 30) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        raw = response.read()
        return Answer(
            response.status, {"raw": raw}, {k.lower(): v for k, v in response.getheaders()}
        )
    finally:
        connection.close()


def wait_until(predicate, timeout: float, message: str = "", interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message}")
        time.sleep(interval)


@dataclass
class Outcome:
    """One decision a client posted: the consent id it sent (None: the server makes one)
    and the answer, or the error if no answer came."""

    sent: str | None
    answer: Answer | None
    error: OSError | None = None


class Clients:
    """``clients`` concurrent browsers, each posting ``per_client`` decisions in turn, half
    of them with a consent id of their own. Runs in the background; ``answered`` counts."""

    def __init__(self, port: int, clients: int, per_client: int) -> None:
        self.port, self.clients, self.per_client = port, clients, per_client
        self.answered = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.outcomes: list[Outcome] = []

    def _client(self, number: int, start: threading.Barrier) -> list[Outcome]:
        start.wait()
        outcomes = []
        for i in range(self.per_client):
            sent = str(uuid.uuid4()) if (number + i) % 2 else None
            body = CONSENT_BODY | ({"consent_id": sent} if sent else {})
            try:
                outcomes.append(Outcome(sent, post_consent(self.port, body)))
            except OSError as error:
                outcomes.append(Outcome(sent, None, error))
            with self._lock:
                self.answered += 1
        return outcomes

    def _run(self) -> None:
        start = threading.Barrier(self.clients)
        with ThreadPoolExecutor(self.clients) as pool:
            batches = pool.map(self._client, range(self.clients), [start] * self.clients)
            self.outcomes = [outcome for batch in batches for outcome in batch]

    def start(self) -> "Clients":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def wait_for(self, answered: int, timeout: float = 120) -> None:
        wait_until(lambda: self.answered >= answered, timeout, f"{answered} answers")

    def join(self, timeout: float = 300) -> list[Outcome]:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"clients still running after {timeout}s"
        return self.outcomes

    def run(self) -> list[Outcome]:
        return self.start().join()
