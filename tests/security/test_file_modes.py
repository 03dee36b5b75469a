"""Issue 11, item 10: the SQLite database and the exports (consent ids, network
prefixes) were created 0644, readable by every account on the machine.

They are created owner-only (files 0600, the exports directory 0700) under the usual
umask 022, and ones left wider by an earlier version are narrowed.
"""

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from consent import exports
from consent.models import ExportJob
from consent.tasks import export_records
from tests.security.staff import decide

ROOT = Path(__file__).resolve().parents[2]
# The platform's own settings, in a fresh interpreter, on a database file of our choosing:
# a write in WAL mode leaves the connection open with its -wal and -shm files beside it.
OPEN_AND_WRITE = """
import os, stat, django
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS t (x)")
    cursor.execute("INSERT INTO t VALUES (1)")
    name = connection.settings_dict["NAME"]
    for suffix in ("", "-wal", "-shm"):
        print(suffix or "db", oct(stat.S_IMODE(os.stat(name + suffix).st_mode)))
"""


def modes_after_opening(database: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run(
        [sys.executable, "-c", OPEN_AND_WRITE],
        cwd=ROOT,
        env=env | {"DATABASE_URL": f"sqlite:///{database}", "VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask, whatever ours is
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split() for line in done.stdout.splitlines())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_and_shm_files_are_owner_only(tmp_path):
    database = tmp_path / "fresh.sqlite3"

    modes = modes_after_opening(database, tmp_path)

    assert modes == {"db": "0o600", "-wal": "0o600", "-shm": "0o600"}


def test_a_database_left_world_readable_is_narrowed(tmp_path):
    database = tmp_path / "old.sqlite3"
    old = sqlite3.connect(database)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE t (x)")
    for path in database.parent.glob("old.sqlite3*"):
        path.chmod(0o644)
    assert mode(database) == 0o644

    modes = modes_after_opening(database, tmp_path)
    old.close()

    assert modes == {"db": "0o600", "-wal": "0o600", "-shm": "0o600"}


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.django_db
def test_exports_are_owner_only_in_an_owner_only_directory(site, settings, tmp_path, umask_022):
    settings.CONSENT_EXPORT_DIR = tmp_path / "exports"
    decide(site)
    job = ExportJob.objects.create(site=site)

    export_records.delay(job.pk)

    job.refresh_from_db()
    assert mode(exports.file_path(job)) == 0o600
    assert mode(tmp_path / "exports") == 0o700


@pytest.mark.django_db
def test_an_exports_directory_left_open_is_narrowed(site, settings, tmp_path, umask_022):
    directory = tmp_path / "exports"
    directory.mkdir(mode=0o755)
    left = directory / "consent-export-1.csv"
    left.write_text("consent_id\n")
    settings.CONSENT_EXPORT_DIR = directory

    export_records.delay(ExportJob.objects.create(site=site).pk)

    assert mode(directory) == 0o700
