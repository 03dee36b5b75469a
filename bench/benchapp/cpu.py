"""Server CPU time, read from /proc: what a round of requests cost the servers.

A server is a process tree: gunicorn's master and its workers, PostgreSQL's postmaster and
its backends, redis-server. Its CPU time so far is, over every live process of the tree,
user + system time (``utime`` + ``stime`` in /proc/PID/stat, every thread included) plus
the user + system time of its children that have exited and been reaped (``cutime`` +
``cstime``). A gunicorn worker that was recycled, or a PostgreSQL backend whose connection
closed, keeps counting: its time moves into its parent's ``cutime``/``cstime``.

``Meter`` sums named trees; the difference between two readings, divided by the requests
answered in between, is the server CPU per request. Processes outside the trees (wrk, the
benchmark itself, whatever else runs on the machine) are not counted.
"""

import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of the process and its reaped children), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "PID (command) STATE PPID ...": the command may hold spaces and parentheses.
    fields = text[text.rindex(")") + 2 :].split()
    # Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime) of proc(5), from field 3 on.
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime + stime + cutime + cstime


def _all_processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, ticks) for every process on the machine, read once."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            found[int(entry.name)] = stat
    return found


def tree_seconds(root: int, processes: dict[int, tuple[int, int]] | None = None) -> float:
    """CPU seconds used so far by ``root`` and all its descendants, live or reaped."""
    processes = processes if processes is not None else _all_processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _ticks) in processes.items():
        children.setdefault(ppid, []).append(pid)
    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in processes:
            ticks += processes[pid][1]
            todo += children.get(pid, [])
    return ticks / TICKS_PER_SECOND


class Meter:
    """The CPU seconds of some named process trees, e.g. {"app": gunicorn master pid,
    "postgresql": postmaster pid, "redis": redis-server pid}."""

    def __init__(self, **roots: int) -> None:
        self.roots = roots

    def read(self) -> dict[str, float]:
        processes = _all_processes()
        return {name: tree_seconds(pid, processes) for name, pid in self.roots.items()}


def postmaster_pid(data_directory: Path) -> int:
    """PostgreSQL's postmaster: the first line of postmaster.pid in its data directory."""
    return int((data_directory / "postmaster.pid").read_text().split()[0])
