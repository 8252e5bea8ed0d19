"""The unprivileged test users that sshd lets in and Slurm runs jobs as.

Each run makes its own user, with a name no other run uses
(`crimpltest` and six random hex digits), so a run never touches an
account it did not make and two runs on one machine do not meet; a test
may make more users whose names start with that one (`make_user`), such
as one whose login shell is tcsh. The
user is made on first use and removed with its home and mail spool
(`userdel --remove`) when the run ends, also after a failure or Ctrl-C.
Because the user is this run's own, ending its processes is ending the
run's processes: jobs that detached from sshd (nohup, setsid) run as it.
A run killed outright (SIGKILL) cannot remove it; the next run names such
users in its header (their GECOS field is MARKER) and the command that
removes them.
"""
from __future__ import annotations

import os
import pathlib
import pwd
import secrets
import shutil
import subprocess

from . import processes, system
from .ledger import LEDGER

TEST_USER = f"crimpltest{secrets.token_hex(3)}"
MARKER = "crimpl-kernel test user (removed by the test run that made it)"
# Where a user's files may outlive `userdel --remove`.
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm")


class RunUser:
    """The run's test user, made by `ensure_test_user()`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entry = pwd.getpwnam(name)
        self.removed = False

    def describe(self) -> str:
        return f"test user {self.name} (uid {self.entry.pw_uid})"

    def end_processes(self) -> list[processes.Process]:
        """End every process of the user (all the run's: the user is the run's own)."""
        return processes.end(processes.of_user(self.entry.pw_uid), grace=2)

    def stop(self) -> None:
        """Remove the user, its home, its mail and its files in the shared
        temporary directories (once: its uid may belong to someone else afterwards)."""
        if self.removed:
            return
        survivors = self.end_processes()
        if survivors:
            raise RuntimeError(f"{self.describe()} still runs {[p.pid for p in survivors]}")
        if user_exists(self.name):
            subprocess.run(["userdel", "--remove", self.name], check=True, capture_output=True)
        for path in files_of(self.entry.pw_uid):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self.removed = True


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def files_of(uid: int) -> list[pathlib.Path]:
    """Entries owned by `uid` at the top of the shared temporary directories."""
    found = []
    for directory in SHARED_TEMP:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    found.append(pathlib.Path(entry.path))
            except OSError:
                pass
    return found


_made: dict[str, RunUser] = {}


def make_user(name: str, shell: str = "/bin/bash") -> RunUser:
    """Make the run's user `name` (TEST_USER, or a name starting with it) with
    login shell `shell`; it is removed when the run ends, or earlier by its `stop()`."""
    if not name.startswith(TEST_USER):
        raise ValueError(f"{name}: a test user's name starts with {TEST_USER}")
    system.require()
    if not os.access(shell, os.X_OK):
        raise RuntimeError(f"{shell} is missing: run scripts/system-deps.sh as root")
    if user_exists(name):
        raise RuntimeError(f"user {name} exists already and this run did not make it: not touching it")
    subprocess.run(
        ["useradd", "--create-home", "--shell", shell, "--comment", MARKER, name],
        check=True, capture_output=True,
    )
    made = _made[name] = RunUser(name)
    LEDGER.users_made.append(name)
    LEDGER.made(made)
    # useradd leaves the account locked ('!'), which sshd refuses without PAM.
    subprocess.run(["usermod", "--password", "*", name], check=True)
    return made


def ensure_test_user() -> pwd.struct_passwd:
    """The run's test user, made now if this is the first call (needs the system opt-in)."""
    made = _made.get(TEST_USER) or make_user(TEST_USER)
    return made.entry


def made_user() -> RunUser | None:
    """The test user if this run made it."""
    return _made.get(TEST_USER)


def made_users() -> list[RunUser]:
    """Every user this run made (removed ones too)."""
    return list(_made.values())


def stale_users() -> list[str]:
    """Test users that some other run (an earlier one cut short, or one running now) made."""
    return [
        entry.pw_name for entry in pwd.getpwall() if entry.pw_gecos == MARKER and not entry.pw_name.startswith(TEST_USER)
    ]
