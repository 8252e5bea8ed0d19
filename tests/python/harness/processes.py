"""Finding and ending the processes a test run started, and no others.

Nothing here looks a process up by name. A process is the run's when it
descends from a process the run started, runs as a user the run made, or
holds (as working directory, open file, executable or command-line
argument) a path inside a directory the run made. Signals go through a
pidfd opened after the process's start time was checked, so a pid reused
by an unrelated process in the meantime is never signalled.
"""
from __future__ import annotations

import os
import pathlib
import pwd
import signal
import time
from dataclasses import dataclass

PROC = pathlib.Path("/proc")


@dataclass(frozen=True)
class Process:
    """One process as /proc shows it; (pid, start) names it for sure."""

    pid: int
    ppid: int
    uid: int
    start: int
    state: str

    @property
    def running(self) -> bool:
        """Not a zombie waiting to be reaped (its parent may not be ours)."""
        return self.state not in ("Z", "X")


def read(pid: int) -> Process | None:
    """The process `pid`, or None when there is none."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        uid = (PROC / str(pid)).stat().st_uid
    except (OSError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # After the command name: state (3rd field of stat), ppid (4th), ..., starttime (22nd).
    return Process(pid=pid, ppid=int(fields[1]), uid=uid, start=int(fields[19]), state=fields[0])


def snapshot() -> dict[int, Process]:
    """Every process on the machine now, by pid."""
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            process = read(int(entry.name))
            if process is not None:
                found[process.pid] = process
    return found


def descendants(pid: int, processes: dict[int, Process] | None = None) -> list[int]:
    """The children of `pid`, their children, and so on."""
    processes = snapshot() if processes is None else processes
    children: dict[int, list[int]] = {}
    for process in processes.values():
        children.setdefault(process.ppid, []).append(process.pid)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _paths_of(pid: int) -> list[str]:
    """What `pid` holds: working directory, executable, open files, arguments."""
    base = PROC / str(pid)
    held = []
    for link in ("cwd", "exe", "root"):
        try:
            held.append(os.readlink(base / link))
        except OSError:
            pass
    try:
        for fd in (base / "fd").iterdir():
            try:
                held.append(os.readlink(fd))
            except OSError:
                pass
    except OSError:
        pass
    try:
        held.extend((base / "cmdline").read_bytes().decode(errors="replace").split("\0"))
    except OSError:
        pass
    return held


def holding(directory: pathlib.Path | str, processes: dict[int, Process] | None = None) -> list[int]:
    """The processes holding a path inside `directory` (not the directory's parent)."""
    processes = snapshot() if processes is None else processes
    prefixes = {os.path.realpath(directory).rstrip("/") + "/", os.path.abspath(directory).rstrip("/") + "/"}
    found = []
    for pid in processes:
        if pid == os.getpid():
            continue
        # `in`, not startswith: an argument may carry the path after an option (--socket=/tmp/...).
        if any(prefix in path + "/" for path in _paths_of(pid) for prefix in prefixes):
            found.append(pid)
    return found


def of_user(uid: int, processes: dict[int, Process] | None = None) -> list[int]:
    """The running processes whose owner is `uid`."""
    processes = snapshot() if processes is None else processes
    return [p.pid for p in processes.values() if p.uid == uid and p.running]


def send(process: Process, sig: int) -> bool:
    """Signal this very process (same pid and start time); False if it is gone."""
    try:
        fd = os.pidfd_open(process.pid)
    except ProcessLookupError:
        return False
    try:
        now = read(process.pid)
        if now is None or now.start != process.start:
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def alive(process: Process) -> bool:
    """Whether this very process still runs."""
    now = read(process.pid)
    return now is not None and now.start == process.start and now.running


def end(pids: list[int], grace: float = 5.0, first: int = signal.SIGTERM) -> list[Process]:
    """Send `first` (TERM) to these processes, KILL those still running after
    `grace` seconds; returns those that outlived even that."""
    processes = [p for p in (read(pid) for pid in pids) if p is not None and p.running]
    for process in processes:
        send(process, first)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in processes):
        time.sleep(0.05)
    for process in processes:
        if alive(process):
            send(process, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in processes):
        time.sleep(0.05)
    return [p for p in processes if alive(p)]


def describe(pid: int) -> str:
    """`pid user: command line`, for reports."""
    try:
        command = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        uid = (PROC / str(pid)).stat().st_uid
    except OSError:
        return f"{pid} (gone)"
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = str(uid)
    return f"{pid} {owner}: {command or '?'}"
