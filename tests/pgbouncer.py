"""A real PgBouncer in front of the suite's PostgreSQL, for the tests of the platform
behind a connection pooler.

Transaction pooling, as production runs it: a server connection belongs to a client only
for one transaction, so anything that leans on session state (a server-side cursor kept
open between transactions, a prepared statement, a session-level lock or ``SET``) breaks.
The pool is small so that many clients really share few server connections, and
``server_round_robin`` hands a client's consecutive transactions to different server
connections whenever more than one is idle: such a break then shows every time, not by
chance. ``SHOW STATS`` and ``SHOW POOLS`` come from the admin console (``admin()``).
"""

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.harness import as_postgres_user, free_port, wait_for_port

ADMIN_USER = "pgbouncer"


def pgbouncer_bin() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
    if not found:
        raise RuntimeError("PgBouncer is not installed (apt-get install pgbouncer)")
    return found


@dataclass
class PgBouncer:
    """PgBouncer on a free loopback port, pooling every database of the PostgreSQL on
    ``upstream_port`` (user ``postgres``, trust authentication on both sides)."""

    upstream_port: int
    pool_size: int = 5
    pool_mode: str = "transaction"
    port: int = field(default_factory=free_port)
    directory: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="consent-pgbouncer-"))
    )
    process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> Path:
        return self.directory / "pgbouncer.log"

    @property
    def pidfile(self) -> Path:
        return self.directory / "pgbouncer.pid"

    def configure(self) -> Path:
        # Trust authentication still wants every user named in the auth file.
        users = self.directory / "userlist.txt"
        users.write_text(f'"postgres" ""\n"{ADMIN_USER}" ""\n')
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(
            f"""\
[databases]
* = host=127.0.0.1 port={self.upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
admin_users = {ADMIN_USER}
pool_mode = {self.pool_mode}
default_pool_size = {self.pool_size}
max_db_connections = {self.pool_size}
reserve_pool_size = 0
min_pool_size = 0
max_client_conn = 500
server_round_robin = 1
query_wait_timeout = 30
logfile = {self.log}
pidfile = {self.pidfile}
"""
        )
        if os.geteuid() == 0:
            for path in (self.directory, users, ini):
                shutil.chown(path, "postgres", "postgres")
        return ini

    def start(self) -> None:
        ini = self.configure()
        # Like initdb, PgBouncer refuses to run as root.
        self.process = subprocess.Popen(
            as_postgres_user([pgbouncer_bin(), str(ini)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, timeout=15)
        except RuntimeError:
            self.stop()
            raise RuntimeError("PgBouncer did not start:\n" + self.output()) from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # SIGTERM: immediate shutdown, every client and server connection closed. To
            # PgBouncer itself: runuser, given one, waits 2 s before it passes it on.
            try:
                os.kill(int(self.pidfile.read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def admin(self, command: str) -> list[dict]:
        """A ``SHOW`` command of the admin console, one dict per row. The console speaks
        only the simple query protocol: a client-side binding cursor, no parameters."""
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="pgbouncer",
            user=ADMIN_USER,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as connection:
            cursor = connection.execute(command)
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def stats(self, database: str) -> dict:
        """``SHOW STATS`` for one database: transactions, queries and wait time since start."""
        found = [row for row in self.admin("SHOW STATS") if row["database"] == database]
        return found[0] if found else {"total_xact_count": 0, "total_query_count": 0}

    def pool(self, database: str) -> dict:
        """``SHOW POOLS`` for one database: its mode and its clients and servers by state."""
        (found,) = [row for row in self.admin("SHOW POOLS") if row["database"] == database]
        return found

    def fill_pool(self, database: str) -> set[int]:
        """Open every server connection the pool may hold (``pool_size`` clients each inside
        a transaction at once) and give them back idle; returns their backend pids."""
        clients = [
            psycopg.connect(self.url(database), autocommit=False) for _ in range(self.pool_size)
        ]
        try:
            pids = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in clients}
            for client in clients:
                client.commit()  # a client gone mid-transaction would cost its server
            return pids
        finally:
            for client in clients:
                client.close()
