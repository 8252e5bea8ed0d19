"""What a test run made on this machine and has not undone yet.

Every service the harness starts (sshd, munged, slurmctld, slurmd,
moto_server) is entered here when it starts and struck off when it stops;
the test user, directories made outside the run's temporary root (such as
/run/sshd when it was missing) and the root itself are entered when made.
`tidy()` undoes whatever is still open, newest first: the pytest session
calls it at the end (also after a failure or Ctrl-C), and it is registered
with atexit for scripts such as bench.py and for runs cut short.
"""
from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile
from typing import Protocol

KEEP_VARIABLE = "CRIMPL_TEST_KEEP"
#: Set by the run's first process to its root: the root of every process it
#: starts (pytest-xdist workers) is made inside it.
PARENT_VARIABLE = "CRIMPL_TEST_PARENT_ROOT"


class Undoable(Protocol):
    """A service or a made thing: says what it is, and can be undone (idempotently)."""

    def describe(self) -> str: ...

    def stop(self) -> None: ...


class Ledger:
    """The one record of this process's test run."""

    def __init__(self) -> None:
        self._services: list[Undoable] = []
        self._made: list[Undoable] = []
        self._made_dirs: list[pathlib.Path] = []
        self._root: pathlib.Path | None = None
        self.users_made: list[str] = []
        self.keep = os.environ.get(KEEP_VARIABLE, "") not in ("", "0")
        atexit.register(self.tidy)

    def temp_root(self) -> pathlib.Path:
        """The run's temporary directory (made on first use): every file the run
        writes lives under it. Others may traverse it (0711) to reach, say,
        the Slurm configuration, but not list it."""
        if self._root is None:
            # A pytest-xdist worker makes its root inside the run's (PARENT_VARIABLE).
            parent = os.environ.get(PARENT_VARIABLE) or None
            self._root = pathlib.Path(tempfile.mkdtemp(prefix="crimpl-tests-", dir=parent))
            self._root.chmod(0o711)
        return self._root

    @property
    def root(self) -> pathlib.Path | None:
        """The temporary root, if one was made."""
        return self._root

    def started(self, service: Undoable) -> None:
        """A service now runs; it must stop before the run ends."""
        if service not in self._services:
            self._services.append(service)

    def stopped(self, service: Undoable) -> None:
        """The service stopped."""
        if service in self._services:
            self._services.remove(service)

    def made(self, thing: Undoable) -> None:
        """A thing that lives as long as the run (the test user)."""
        self._made.append(thing)

    def make_dir(self, path: str | pathlib.Path, mode: int = 0o755) -> None:
        """Make `path` if it is missing; if this run made it, it removes it at the end."""
        path = pathlib.Path(path)
        if path.exists():
            return
        path.mkdir(mode=mode, parents=False)
        self._made_dirs.append(path)

    @property
    def made_dirs(self) -> list[pathlib.Path]:
        """Directories outside the root that this run made."""
        return list(self._made_dirs)

    def running(self) -> list[str]:
        """The services started and not stopped, described."""
        return [service.describe() for service in self._services]

    def tidy(self) -> list[str]:
        """Stop every service still running, undo every made thing, remove the
        temporary root (unless CRIMPL_TEST_KEEP=1); returns what went wrong."""
        problems = []
        for group in (self._services, self._made):
            for thing in reversed(list(group)):
                try:
                    thing.stop()
                except Exception as error:  # noqa: BLE001 - go on undoing the rest
                    problems.append(f"could not undo {thing.describe()}: {error}")
                if thing in group:
                    group.remove(thing)
        for path in reversed(self._made_dirs):
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError as error:
                problems.append(f"could not remove {path}, which this run made: {error}")
        self._made_dirs.clear()
        if self._root is not None and self._root.exists():
            if self.keep:
                print(f"{KEEP_VARIABLE} is set: the run's files are kept in {self._root}")
            else:
                shutil.rmtree(self._root, ignore_errors=True)
        return problems


LEDGER = Ledger()
