"""The unprivileged test user that sshd lets in and Slurm runs jobs as.

Each run makes its own user, with a name no other run uses
(`crimpltest` and six random hex digits), so a run never touches an
account it did not make and two runs on one machine do not meet. The
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

    def describe(self) -> str:
        return f"test user {self.name} (uid {self.entry.pw_uid})"

    def end_processes(self) -> list[processes.Process]:
        """End every process of the user (all the run's: the user is the run's own)."""
        return processes.end(processes.of_user(self.entry.pw_uid), grace=2)

    def stop(self) -> None:
        """Remove the user, its home, its mail and its files in the shared temporary directories."""
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


_made: RunUser | None = None


def ensure_test_user() -> pwd.struct_passwd:
    """The run's test user, made now if this is the first call (needs the system opt-in)."""
    global _made
    if _made is not None:
        return _made.entry
    system.require()
    if user_exists(TEST_USER):
        raise RuntimeError(f"user {TEST_USER} exists already and this run did not make it: not touching it")
    subprocess.run(
        ["useradd", "--create-home", "--shell", "/bin/bash", "--comment", MARKER, TEST_USER],
        check=True, capture_output=True,
    )
    _made = RunUser(TEST_USER)
    LEDGER.users_made.append(TEST_USER)
    LEDGER.made(_made)
    # useradd leaves the account locked ('!'), which sshd refuses without PAM.
    subprocess.run(["usermod", "--password", "*", TEST_USER], check=True)
    return _made.entry


def made_user() -> RunUser | None:
    """The test user if this run made it."""
    return _made


def stale_users() -> list[str]:
    """Test users that some other run (an earlier one cut short, or one running now) made."""
    return [entry.pw_name for entry in pwd.getpwall() if entry.pw_gecos == MARKER and entry.pw_name != TEST_USER]
