"""~/.ssh/config read as OpenSSH reads it, against a real sshd: `Match host`
(the name after HostName substitution) and `Match user` with negation,
`Match` inside an `Include`d file, `HostKeyAlias` and `UserKnownHostsFile`
(the only place the host key is recorded, under the alias), and
`IdentitiesOnly` keeping an ssh-agent's other keys out."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time

import pytest

from harness.sshd import TEST_USER, Sshd, keygen, running as sshd_running
from kernel_helpers import Kernel, kernel_env

DIRECTORY = "crimpl-config-tests"
system = pytest.mark.system  # a test user, sshd as root


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    with sshd_running(tmp_path_factory.mktemp("sshd"), DIRECTORY) as server:
        yield server


def home_with_key(sshd: Sshd, tmp_path: pathlib.Path) -> pathlib.Path:
    """A HOME holding the key the test user accepts (~/.ssh/id_ed25519), no config yet."""
    home = tmp_path / "home"
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True)
    for name in ("id_ed25519", "id_ed25519.pub"):
        shutil.copy(sshd.home / ".ssh" / name, ssh_dir / name)
    return home


def new_server(kernel: Kernel, name: str, host: str):
    return kernel.execute(f"%crimpl server new ssh {name} --host {host} --directory ~/{DIRECTORY}/{name} --replace")


@system
def test_match_host_and_user_from_an_included_file_pick_port_key_and_host_key_file(
    sshd, tmp_path, workdir, config_dir
):
    home = home_with_key(sshd, tmp_path)
    ssh_dir = home / ".ssh"
    (ssh_dir / "config.d").mkdir()
    # Only the Match block names the real port, the key and the known_hosts
    # file, where the host key is recorded under the alias alone.
    (ssh_dir / "config.d" / "cluster").write_text(
        "Host box\n  HostName 127.0.0.1\n"
        f"Match host 127.0.0.*,!127.0.0.2 user {TEST_USER}\n"
        f"  Port {sshd.port}\n  IdentityFile ~/.ssh/id_ed25519\n"
        "  HostKeyAlias cluster-alias\n  UserKnownHostsFile ~/.ssh/known_hosts.cluster\n"
        f"Match host 127.0.0.1 !user {TEST_USER}\n  Port 1\n"
    )
    (ssh_dir / "config").write_text("Include config.d/*\nHost *\n  IdentityFile ~/.ssh/absent\n")
    key = " ".join(sshd.host_key_pub.split()[:2])
    (ssh_dir / "known_hosts.cluster").write_text(f"[cluster-alias]:{sshd.port} {key}\n")
    kernel = Kernel(workdir, kernel_env(config_dir, home=home))
    try:
        made = new_server(kernel, "matched", f"{TEST_USER}@box")
        assert made.ok, made.error
        ran = kernel.execute("%%crimpl run --server matched\necho reached $(whoami)\n")
        assert ran.ok and f"reached {TEST_USER}" in ran.text, ran.error or ran.text
        # Another user matches the other block: its port, not the test sshd's.
        other = new_server(kernel, "other", "someone@box")
        assert not other.ok
        assert "someone@127.0.0.1:1" in other.error, other.error
        assert kernel.alive()
    finally:
        kernel.shutdown()


@system
def test_an_unknown_match_criterion_is_named(sshd, tmp_path, workdir, config_dir):
    home = home_with_key(sshd, tmp_path)
    (home / ".ssh" / "config.d").mkdir()
    (home / ".ssh" / "config.d" / "bad").write_text("Match exec \"test -e /tmp\"\n  User nobody\n")
    (home / ".ssh" / "config").write_text("Include config.d/bad\n")
    kernel = Kernel(workdir, kernel_env(config_dir, home=home))
    try:
        made = new_server(kernel, "bad", "box")
        assert not made.ok
        assert "config.d/bad line 1" in made.error and "Match exec" in made.error, made.error
        assert kernel.alive()
    finally:
        kernel.shutdown()


@pytest.fixture
def agent(tmp_path):
    """An ssh-agent of this test's own (its socket, its process)."""
    socket_path = tmp_path / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if socket_path.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        assert socket_path.exists(), "ssh-agent did not start"
        yield socket_path
    finally:
        process.terminate()
        process.wait(timeout=10)


@system
def test_identities_only_keeps_the_agents_other_keys_out(sshd, agent, tmp_path, workdir, config_dir):
    """The agent holds the key the host accepts; the config names another
    one. Without IdentitiesOnly the agent's key logs in; with it, it is never offered."""
    home = home_with_key(sshd, tmp_path)
    ssh_dir = home / ".ssh"
    env_agent = dict(os.environ, SSH_AUTH_SOCK=str(agent))
    subprocess.run(["ssh-add", "-q", str(ssh_dir / "id_ed25519")], env=env_agent, check=True, capture_output=True)
    for name in ("id_ed25519", "id_ed25519.pub"):
        (ssh_dir / name).unlink()
    keygen(ssh_dir / "refused")
    (ssh_dir / "known_hosts").write_text(sshd.known_hosts_line())
    host = f"Host box\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {TEST_USER}\n  IdentityFile ~/.ssh/refused\n"
    for only in (False, True):
        (ssh_dir / "config").write_text(host + ("  IdentitiesOnly yes\n" if only else ""))
        env = kernel_env(config_dir, home=home)
        env["SSH_AUTH_SOCK"] = str(agent)
        kernel = Kernel(workdir, env)
        try:
            made = new_server(kernel, f"only{int(only)}", "box")
            if only:
                assert not made.ok
                assert "refused every key" in made.error and "refused" in made.error, made.error
            else:
                assert made.ok, made.error
        finally:
            kernel.shutdown()
