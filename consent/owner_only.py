"""Files that hold evidence or secrets are readable by their owner alone.

The SQLite database and the exports hold every visitor's consent id and network prefix;
seed_demo's password files hold logins. Each is created with mode 0600 (directories
0700) by the call that creates it, so there is no moment when another account on the
machine can open it; a file or directory left wider by an earlier version is narrowed
when it is next opened. Nothing here changes the process's umask, which would reach
files made for others too (static files a web server reads).
"""

import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
# SQLite's companions of a database file. It creates them with the database file's own
# mode; ones left from before are narrowed here.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def narrow(path: str | os.PathLike, mode: int = FILE_MODE) -> None:
    """chmod ``path`` to ``mode`` if it exists and others (or its group) may use it."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        try:
            os.chmod(path, mode)
        except PermissionError:
            log.warning("%s is mode %o and not ours to narrow to %o", path, current, mode)


def directory(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) if missing; the directory itself is 0700."""
    path = Path(path)
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    narrow(path, DIRECTORY_MODE)
    return path


def open_for_writing(path: str | os.PathLike, mode: str = "w", **kwargs) -> IO:
    """``open(path, mode)`` for writing from the start, the file created 0600."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(descriptor, mode, **kwargs)


class SQLiteConnection(sqlite3.Connection):
    """``sqlite3.connect(..., factory=SQLiteConnection)``: the database file exists,
    0600, before SQLite opens it (SQLite would create it 0644 under the usual umask).

    Named in DATABASES' OPTIONS (``factory``), which Django passes to ``connect``. In-memory
    databases and ``file:`` URIs are left to SQLite.
    """

    def __init__(self, database, *args, **kwargs):
        name = os.fsdecode(database)
        if name and name != ":memory:" and not name.startswith("file:"):
            # Unless it is there already, or its directory is not (SQLite says so).
            with contextlib.suppress(FileExistsError, FileNotFoundError):
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
            for suffix in ("", *SQLITE_COMPANIONS):
                narrow(name + suffix)
        super().__init__(database, *args, **kwargs)
