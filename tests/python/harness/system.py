"""May the tests touch this machine? The one answer for scripts/test.sh,
scripts/system-deps.sh and the Python harness.

Some tests need root and change the system while they run: they install
Debian packages, create a test user and start sshd, munged, slurmctld and
slurmd as root (each a private instance, all undone at the end). They run
only where that is expected: in CI (`CI` set), in a container, or where
the person running them said so with CRIMPL_TEST_SYSTEM=1.
CRIMPL_TEST_SYSTEM=0 forbids it everywhere. Elsewhere those tests are
skipped with a reason that names the variable, and every other test runs.

Run as a script, it prints why not and exits 1, or exits 0 when allowed.
Standard library only: system-deps.sh runs it before the venv exists.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

VARIABLE = "CRIMPL_TEST_SYSTEM"
WHAT = "create a test user, start sshd, munged and Slurm as root and install Debian packages"


class NotAllowed(RuntimeError):
    """Raised by the harness when it is asked to touch a system it may not."""


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def in_ci() -> bool:
    """The CI convention: CI=true (GitHub, GitLab, this project's .ci/run)."""
    return _truthy(os.environ.get("CI"))


def in_container() -> bool:
    """Docker, Podman, LXC, systemd-nspawn or Kubernetes, by the marks each leaves."""
    if pathlib.Path("/.dockerenv").exists() or pathlib.Path("/run/.containerenv").exists():
        return True
    if os.environ.get("container"):
        return True
    detect = shutil.which("systemd-detect-virt")
    if detect:
        try:
            found = subprocess.run([detect, "--container", "--quiet"], timeout=10, check=False)
            if found.returncode == 0:
                return True
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        cgroup = pathlib.Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(hint in cgroup for hint in ("docker", "kubepods", "containerd", "/lxc/", "libpod"))


def refusal() -> str | None:
    """Why the tests may not touch this system, or None when they may."""
    setting = os.environ.get(VARIABLE)
    if setting is not None and not _truthy(setting):
        return f"{VARIABLE}={setting} is set: these tests would change the system (they {WHAT})"
    if not _truthy(setting) and not in_ci() and not in_container():
        return (
            f"needs {VARIABLE}=1 (and root) outside CI or a container: these tests change the system "
            f"(they {WHAT})"
        )
    if os.geteuid() != 0:
        return f"needs root: these tests {WHAT} (run as root; {VARIABLE}=1 outside CI or a container)"
    return None


def require() -> None:
    """Raise NotAllowed unless the tests may touch this system."""
    reason = refusal()
    if reason is not None:
        raise NotAllowed(reason)


if __name__ == "__main__":
    reason = refusal()
    if reason is not None:
        print(reason)
    sys.exit(0 if reason is None else 1)
