"""A private OpenSSH server on loopback for the tests.

It runs with its own host key, a high port and its own pid and log files,
and admits only the run's own unprivileged test users (see users.py),
with a key that lives in a temporary HOME given to the kernel. `stop()`
ends the listener and every session it started; nothing is left running.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import pwd
import signal
import socket
import subprocess
import time
from typing import Iterator

from . import processes
from .ledger import LEDGER
from .users import TEST_USER, ensure_test_user, made_user

SSHD = "/usr/sbin/sshd"
__all__ = ["SSHD", "TEST_USER", "Sshd", "free_port", "keygen"]


#: Ports are taken from blocks below Linux's ephemeral range (32768 and up,
#: where bind(0) and jupyter_client's kernel ports come from): each
#: pytest-xdist worker has a block of its own, so no two workers of a run can
#: choose one port and race to bind it.
PORT_BLOCK_START, PORT_BLOCK_SIZE = 20000, 1000
_ports_given: set[int] = set()


def _worker_index() -> int:
    """This pytest-xdist worker's number (gw3 -> 3); 0 outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0


def free_port() -> int:
    """A loopback port free now, from this worker's block, never one this
    process has handed out before (two calls before either binds differ)."""
    start = PORT_BLOCK_START + _worker_index() * PORT_BLOCK_SIZE
    for port in range(start, start + PORT_BLOCK_SIZE):
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError(f"no free port left in {start}-{start + PORT_BLOCK_SIZE - 1}")


def keygen(path: pathlib.Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "crimpl-test", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


class Sshd:
    """One running sshd, and the client-side HOME that reaches it as `crimpl-test`."""

    host_alias = "crimpl-test"

    def __init__(
        self,
        base: pathlib.Path,
        listen: tuple[str, ...] = ("127.0.0.1",),
        extra_config: str = "",
        log_level: str = "VERBOSE",
        password_login: bool = False,
    ):
        """`password_login`: the user logs in with its password through PAM
        (keyboard-interactive), and keys are refused."""
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.user = ensure_test_user()
        self.port = free_port()
        self.host_key_pub = keygen(base / "host_ed25519")
        self.config = base / "sshd_config"
        self.log = base / "sshd.log"
        self.pid_file = base / "sshd.pid"
        self.config.write_text(
            f"Port {self.port}\n"
            + "".join(f"ListenAddress {address}\n" for address in listen)
            + f"HostKey {base / 'host_ed25519'}\n"
            f"PidFile {self.pid_file}\n"
            + (
                "UsePAM yes\nPasswordAuthentication no\nKbdInteractiveAuthentication yes\nPubkeyAuthentication no\n"
                if password_login
                else "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            )
            +
            "AuthorizedKeysFile .ssh/authorized_keys\n"
            # The run's users: TEST_USER, and those a test made (names starting with it).
            f"AllowUsers {TEST_USER} {TEST_USER}*\n"
            "PermitRootLogin no\n"
            f"LogLevel {log_level}\n"
            "MaxSessions 50\n"
            "MaxStartups 50\n"
            "Subsystem sftp internal-sftp\n"
            + extra_config
        )
        # The kernel's HOME: a key, an ssh config with the alias, known_hosts.
        self.home = base / "home"
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(parents=True)
        client_pub = self.client_pub = keygen(ssh_dir / "id_ed25519")
        (ssh_dir / "config").write_text(
            f"Host {self.host_alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User {TEST_USER}\n"
            "  IdentityFile ~/.ssh/id_ed25519\n"
        )
        self.trust_host_key()
        self.authorize(client_pub)
        # sshd's privilege separation directory (the package's tmpfiles.d makes it at boot).
        LEDGER.make_dir("/run/sshd")
        self.listener: processes.Process | None = None
        self.start()

    @property
    def known_hosts(self) -> pathlib.Path:
        return self.home / ".ssh" / "known_hosts"

    def known_hosts_line(self, public_key: str | None = None) -> str:
        key = " ".join((public_key or self.host_key_pub).split()[:2])
        return f"[127.0.0.1]:{self.port} {key}\n"

    def trust_host_key(self) -> None:
        self.known_hosts.write_text(self.known_hosts_line())

    def authorize(self, public_key: str, user: pwd.struct_passwd | None = None) -> None:
        """Let `public_key` log in as `user` (the test user by default)."""
        user = user or self.user
        ssh_dir = pathlib.Path(user.pw_dir) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(public_key + "\n")
        for path in (ssh_dir, keys):
            os.chown(path, user.pw_uid, user.pw_gid)
        keys.chmod(0o600)

    def describe(self) -> str:
        return f"sshd on port {self.port} ({self.config})"

    def start(self) -> None:
        LEDGER.started(self)
        try:
            subprocess.run([SSHD, "-f", str(self.config), "-E", str(self.log)], check=True)
            for _ in range(100):
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        self.listener = processes.read(int(self.pid_file.read_text().strip()))
                        return
                except (OSError, ValueError):
                    time.sleep(0.05)
            raise RuntimeError(f"sshd did not start; see {self.log}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """End the listener and every session it spawned (connections drop)."""
        listener, self.listener = self.listener, None
        if listener is None:
            # Started but not seen listening: the pid file, if any, names our daemon.
            try:
                listener = processes.read(int(self.pid_file.read_text().strip()))
            except (OSError, ValueError):
                listener = None
        if listener is not None and processes.alive(listener):
            processes.end([*processes.descendants(listener.pid), listener.pid], grace=0, first=signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        LEDGER.stopped(self)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    time.sleep(0.05)
            except OSError:
                return

    def sessions_started(self) -> int:
        """How many commands sshd has run (one per exec channel)."""
        return self.log.read_text().count("Starting session: command")

    def session_processes(self) -> list[processes.Process]:
        """The sshd processes serving connections (the listener's sshd
        children: privilege monitor and network process), not the commands."""
        if self.listener is None:
            return []
        now = processes.snapshot()
        found = []
        for pid in processes.descendants(self.listener.pid, now):
            try:
                if os.readlink(f"/proc/{pid}/exe") == SSHD:
                    found.append(now[pid])
            except OSError:
                pass
        return found

    def run_as_user(self, command: str) -> str:
        return subprocess.run(
            ["su", "-s", "/bin/sh", TEST_USER, "-c", command], check=True, capture_output=True, text=True
        ).stdout

    def cleanup_user(self, *directories: str) -> None:
        """End the test user's leftover jobs (the user is this run's own: all
        its processes are the run's) and remove these directories of its home."""
        user = made_user()
        if user is None:
            return
        survivors = user.end_processes()
        if survivors:
            raise RuntimeError(f"processes of {TEST_USER} outlived SIGKILL: {[p.pid for p in survivors]}")
        for directory in directories:
            subprocess.run(["rm", "-rf", "--", os.path.join(self.user.pw_dir, directory)], check=False)


@contextlib.contextmanager
def running(base: pathlib.Path, *directories: str, **options) -> Iterator[Sshd]:
    """An Sshd in `base` (`options` as for Sshd) for the `with` block; then
    stopped, and the test user's `directories` removed."""
    server = Sshd(base, **options)
    try:
        yield server
    finally:
        server.stop()
        server.cleanup_user(*directories)
