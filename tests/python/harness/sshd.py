"""A private OpenSSH server on loopback for the tests.

It runs with its own host key, a high port and its own pid and log files,
and admits one unprivileged user, `crimpltest` (created here if missing,
unlocked for key login only), with a key that lives in a temporary HOME
given to the kernel. `stop()` ends the listener and every session it
started; nothing is left running.
"""
from __future__ import annotations

import os
import pathlib
import pwd
import signal
import socket
import subprocess
import time

TEST_USER = "crimpltest"
SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_test_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", TEST_USER], check=True)
        # useradd leaves the account locked ('!'), which sshd refuses without PAM.
        subprocess.run(["usermod", "--password", "*", TEST_USER], check=True)
        return pwd.getpwnam(TEST_USER)


def keygen(path: pathlib.Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "crimpl-test", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class Sshd:
    """One running sshd, and the client-side HOME that reaches it as `crimpl-test`."""

    host_alias = "crimpl-test"

    def __init__(self, base: pathlib.Path, listen: tuple[str, ...] = ("127.0.0.1",), extra_config: str = ""):
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
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "AuthorizedKeysFile .ssh/authorized_keys\n"
            f"AllowUsers {TEST_USER}\n"
            "PermitRootLogin no\n"
            "LogLevel VERBOSE\n"
            "MaxSessions 50\n"
            "MaxStartups 50\n"
            "Subsystem sftp internal-sftp\n"
            + extra_config
        )
        # The kernel's HOME: a key, an ssh config with the alias, known_hosts.
        self.home = base / "home"
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(parents=True)
        client_pub = keygen(ssh_dir / "id_ed25519")
        (ssh_dir / "config").write_text(
            f"Host {self.host_alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User {TEST_USER}\n"
            "  IdentityFile ~/.ssh/id_ed25519\n"
        )
        self.trust_host_key()
        self.authorize(client_pub)
        os.makedirs("/run/sshd", exist_ok=True)
        self.start()

    @property
    def known_hosts(self) -> pathlib.Path:
        return self.home / ".ssh" / "known_hosts"

    def known_hosts_line(self, public_key: str | None = None) -> str:
        key = " ".join((public_key or self.host_key_pub).split()[:2])
        return f"[127.0.0.1]:{self.port} {key}\n"

    def trust_host_key(self) -> None:
        self.known_hosts.write_text(self.known_hosts_line())

    def authorize(self, public_key: str) -> None:
        ssh_dir = pathlib.Path(self.user.pw_dir) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(public_key + "\n")
        for path in (ssh_dir, keys):
            os.chown(path, self.user.pw_uid, self.user.pw_gid)
        keys.chmod(0o600)

    def start(self) -> None:
        subprocess.run([SSHD, "-f", str(self.config), "-E", str(self.log)], check=True)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start; see {self.log}")

    def listener_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """End the listener and every session it spawned (connections drop)."""
        pid = self.listener_pid()
        if pid is None:
            return
        for process in [*descendants(pid), pid]:
            try:
                os.kill(process, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid_file.unlink(missing_ok=True)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    time.sleep(0.05)
            except OSError:
                return

    def sessions_started(self) -> int:
        """How many commands sshd has run (one per exec channel)."""
        return self.log.read_text().count("Starting session: command")

    def run_as_user(self, command: str) -> str:
        return subprocess.run(
            ["su", "-s", "/bin/sh", TEST_USER, "-c", command], check=True, capture_output=True, text=True
        ).stdout

    def cleanup_user(self, *directories: str) -> None:
        """Kill the test user's leftover jobs and remove their directories."""
        subprocess.run(["pkill", "-KILL", "-u", TEST_USER], check=False)
        for directory in directories:
            subprocess.run(["rm", "-rf", os.path.join(self.user.pw_dir, directory)], check=False)
