"""A PostgreSQL primary and a real streaming standby cloned from it, for tests of reads
off the primary.

Both are ``tests.harness.PostgresServer`` clusters: temporary directories, the postgres
user, 127.0.0.1 only, trust authentication. The primary allows streaming replication
from loopback; the standby is made with ``pg_basebackup -R`` (which writes its
``primary_conninfo`` and ``standby.signal``) and runs as a hot standby on its own port.
Each logs every statement to its own file, so a test can tell which server a query
reached.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.appserver import wait_until
from tests.harness import PostgresServer, as_postgres_user, postgres_bin

PRIMARY_CONF = """
wal_level = replica
max_wal_senders = 4
hot_standby = on
log_statement = 'all'
log_line_prefix = '%m [%p] '
"""
# Loopback only, no password: the clusters live for one test run.
PG_HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


def binaries_missing() -> str | None:
    """Why a streaming pair cannot be made here, or None."""
    for name in ("initdb", "pg_ctl", "pg_basebackup"):
        try:
            postgres_bin(name)
        except RuntimeError as error:
            return str(error)
    return None


@dataclass
class StatementLog:
    """A server's log file, read from a mark on."""

    path: Path
    offset: int = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def since_mark(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")


def query(server: PostgresServer, sql: str, *params, database: str = "postgres"):
    """The first column of the first row of one statement (None if it returns no rows),
    in autocommit."""
    with psycopg.connect(server.url(database), autocommit=True, connect_timeout=10) as db:
        cursor = db.execute(sql, params)
        row = cursor.fetchone() if cursor.description else None
        return row[0] if row else None


@dataclass
class StreamingPair:
    primary: PostgresServer = field(default_factory=PostgresServer)
    standby: PostgresServer = field(default_factory=PostgresServer)

    def start(self) -> None:
        self.primary.init()
        with (self.primary.data / "postgresql.conf").open("a") as conf:
            conf.write(PRIMARY_CONF)
        (self.primary.data / "pg_hba.conf").write_text(PG_HBA)
        self.primary.start()
        if os.geteuid() == 0:
            shutil.chown(self.standby.directory, "postgres", "postgres")
        subprocess.run(
            as_postgres_user(
                [
                    postgres_bin("pg_basebackup"),
                    *("-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres"),
                    *("-D", str(self.standby.data)),
                    "--write-recovery-conf",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        self.standby.start()  # pg_ctl -w: up once it accepts read-only connections
        wait_until(
            lambda: query(self.standby, "SELECT status FROM pg_stat_wal_receiver") == "streaming",
            30,
            "the standby streams from the primary",
        )

    def log(self, server: PostgresServer) -> StatementLog:
        return StatementLog(server.directory / "log")

    def replayed(self, lsn: str) -> bool:
        return bool(query(self.standby, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", lsn))

    def wait_for_replay(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        lsn = query(self.primary, "SELECT pg_current_wal_lsn()::text")
        wait_until(lambda: self.replayed(lsn), timeout, f"the standby replays up to {lsn}")

    def stop(self) -> None:
        for server in (self.standby, self.primary):
            server.stop("immediate")
            server.remove()
