"""Real servers for the test suite, started by the suite itself.

Loaded as a pytest plugin (``-p tests.harness`` in pyproject.toml):

- ``--postgres`` starts a throwaway PostgreSQL cluster in a temporary directory on a free
  loopback port and points DATABASE_URL at it before Django reads its settings.
- ``redis_server`` starts a throwaway ``redis-server`` on a free loopback port.
- ``celery_worker`` starts a real Celery worker process against that Redis and the test
  database.

Nothing is mocked: the code under test talks to the same servers it talks to in
production.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found or not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found[-1]


def as_postgres_user(args: list[str]) -> list[str]:
    """initdb refuses to run as root: run the cluster as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="consent-pg-")))

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            as_postgres_user(list(args)), check=check, capture_output=True, text=True
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            postgres_bin("initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} "
            "-c fsync=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class RedisServer:
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="consent-redis-")))
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres",
        action="store_true",
        help="Run against a real PostgreSQL started in a temporary directory.",
    )


_postgres: PostgresServer | None = None


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Runs before pytest-django reads the settings, so DATABASE_URL is in place.
    global _postgres
    # The transparency log's signing key for this run, in the environment, so that every
    # server and worker a test starts signs with the key the test checks against.
    if not os.environ.get("CONSENT_LOG_KEY"):
        from consent.transparency import heads

        private = heads.private_key_pem(heads.generate_private_key())
        os.environ["CONSENT_LOG_KEY"] = private.decode()
    if "--postgres" in args:
        _postgres = PostgresServer()
        _postgres.init()
        _postgres.start()
        os.environ["DATABASE_URL"] = _postgres.url("consent")
    return (yield)


SERVICE_FIXTURES = frozenset({"redis_server", "celery_worker", "postgres_server"})


def pytest_collection_modifyitems(config, items) -> None:
    """A test that asks for a real Redis, Celery worker or PostgreSQL is a ``services``
    test, whether or not it says so: ``scripts/test --quick`` leaves those out."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def pytest_report_header(config) -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine}" + (f" on 127.0.0.1:{_postgres.port}" if _postgres else "")


def pytest_unconfigure(config) -> None:
    if _postgres is not None:
        _postgres.stop("immediate")
        _postgres.remove()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    if _postgres is None:
        pytest.skip("needs --postgres")
    return _postgres


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)


def database_url_for_workers() -> str:
    """The URL of the database the current test runs on, for other processes."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


@dataclass
class CeleryWorker:
    process: subprocess.Popen
    log: Path
    broker: str

    def client(self):
        """A Celery client that sends to this worker's broker (tests stay eager)."""
        from celery import Celery

        return Celery("consent-test-client", broker=self.broker)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_celery_worker(
    redis_url: str, database_url: str, log: Path, extra_env: dict | None = None
) -> CeleryWorker:
    env = (
        os.environ
        | {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        | (extra_env or {})
    )
    handle = log.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Celery worker did not start:\n" + log.read_text())
        time.sleep(0.1)
    return CeleryWorker(process, log, redis_url)


@pytest.fixture
def celery_worker(redis_server, transactional_db, tmp_path) -> Iterator[CeleryWorker]:
    worker = start_celery_worker(
        redis_server.url, database_url_for_workers(), tmp_path / "worker.log"
    )
    yield worker
    worker.kill()
