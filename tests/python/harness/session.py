"""The pytest plugin that keeps a test run safe on anyone's machine
(conftest.py loads it; a pytester run can load it with `-p harness.session`).

- Every file of the run lives in one temporary root (harness.ledger): pytest's
  tmp_path directories, TMPDIR of the kernels it starts, Jupyter's runtime
  files, the Slurm cluster. The root goes at the end unless CRIMPL_TEST_KEEP=1.
- Run in parallel (pytest-xdist, `-n`), each worker is a run of its own inside
  the first process's root: its own root, test user, daemons, ports (see
  harness.sshd.free_port) and final check.
- Tests marked `system` (a test user, daemons as root) run only where
  harness.system allows; elsewhere they are skipped with the reason, which
  names CRIMPL_TEST_SYSTEM.
- SIGTERM and SIGHUP end the run the way Ctrl-C does, so fixtures tear down.
- The session ends with a check that can fail: no service the harness
  started still runs, no process of the run is left (descendants of pytest,
  processes of the run's test user, processes holding the run's temporary
  root), the test user, its group, home and files in /tmp, /var/tmp and
  /dev/shm are gone, and so are the temporary root and the directories made
  outside it. What it finds it also ends or removes: it is the run's own.
"""
from __future__ import annotations

import grp
import os
import pathlib
import signal
import tempfile

import pytest

from . import processes, system, users
from .ledger import LEDGER, PARENT_VARIABLE


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"system: changes the system (test user, daemons as root); runs in CI, a container or with {system.VARIABLE}=1",
    )
    root = LEDGER.temp_root()
    parent = os.environ.get(PARENT_VARIABLE)
    # A pytest-xdist worker (its root inside the run's) keeps its tmp_path
    # directories in its own root too, not in the one xdist derived for it.
    if config.option.basetemp is None or (parent and str(config.option.basetemp).startswith(parent)):
        config.option.basetemp = str(root / "pytest")
    if not hasattr(config, "workerinput"):
        # The run's first process: the roots of its workers go inside its own,
        # and sshd's privilege separation directory (which the package's
        # tmpfiles.d makes at boot) is made once for all of them, so that no
        # worker's tidy-up removes it under the others.
        os.environ[PARENT_VARIABLE] = str(root)
        if system.refusal() is None:
            LEDGER.make_dir("/run/sshd")
    for variable, name in (("TMPDIR", "tmp"), ("JUPYTER_RUNTIME_DIR", "jupyter-runtime")):
        path = root / name
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ[variable] = str(path)
    tempfile.tempdir = None  # tempfile reads TMPDIR again
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:  # not when started under nohup
            signal.signal(signum, _interrupt)


def _interrupt(signum: int, _frame) -> None:
    """End the run as Ctrl-C does: pytest tears every fixture down. A second
    signal of the kind is ignored so that it cannot cut the tidy-up short."""
    signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    reason = system.refusal()
    lines = [
        f"crimpl: temporary root {LEDGER.temp_root()}",
        "crimpl: tests that change the system: " + ("run" if reason is None else f"skipped ({reason})"),
    ]
    stale = users.stale_users()
    if stale:
        lines.append(
            f"crimpl: test users made by another run (one cut short, or one running now): {' '.join(stale)}; "
            f"remove a dead run's with: userdel --remove NAME"
        )
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = system.refusal()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("system") is not None:
            item.add_marker(skip)


class Before:
    """The processes (by pid and start time) that ran before the run: never the run's."""

    def __init__(self) -> None:
        self.processes = {(p.pid, p.start) for p in processes.snapshot().values()}


def run_processes(before: Before) -> list[int]:
    """The processes of this run still running: descendants of pytest, processes
    of the run's test user, processes holding the temporary root; none that ran
    before the run started."""
    now = processes.snapshot()
    found = set(processes.descendants(os.getpid(), now))
    for made in users.made_users():
        if not made.removed:
            found.update(processes.of_user(made.entry.pw_uid, now))
    for directory in [LEDGER.root, *LEDGER.made_dirs]:
        if directory is not None:
            for pid in processes.holding(directory, now):
                found.add(pid)
                found.update(processes.descendants(pid, now))
    found.discard(os.getpid())
    return sorted(
        pid for pid in found if pid in now and now[pid].running and (pid, now[pid].start) not in before.processes
    )


def leftovers(before: Before) -> list[str]:
    """Check that the run leaves nothing behind, tidying as it goes; what was wrong."""
    problems = [f"{service} was still running at the end: its fixture did not stop it" for service in LEDGER.running()]
    stray = run_processes(before)
    problems += [f"process {processes.describe(pid)} was still running at the end" for pid in stray]
    for process in processes.end(stray):
        problems.append(f"process {processes.describe(process.pid)} outlived SIGKILL")
    made_users = users.made_users()
    problems += LEDGER.tidy()
    for made in made_users:
        name, uid = made.name, made.entry.pw_uid
        if users.user_exists(name):
            problems.append(f"test user {name} still exists")
        try:
            grp.getgrnam(name)
            problems.append(f"the group {name} still exists")
        except KeyError:
            pass
        for path in (pathlib.Path(made.entry.pw_dir), pathlib.Path("/var/mail") / name):
            if path.exists():
                problems.append(f"{path} of test user {name} is still there")
        problems += [f"{path}, owned by test user {name}, is still there" for path in users.files_of(uid)]
    if LEDGER.root is not None and LEDGER.root.exists() and not LEDGER.keep:
        problems.append(f"the temporary root {LEDGER.root} is still there")
    problems += [f"{path}, made by the run, is still there" for path in LEDGER.made_dirs if path.exists()]
    problems += [f"process {processes.describe(pid)} still runs after the tidy-up" for pid in run_processes(before)]
    return problems


@pytest.fixture(scope="session", autouse=True)
def leaves_nothing_behind():
    """Set up before any other fixture, torn down after all of them: the final check."""
    before = Before()
    yield
    problems = leftovers(before)
    if problems:
        pytest.fail("the test run left things behind (now ended or removed):\n- " + "\n- ".join(problems),
                    pytrace=False)
