"""~/.ssh/config read as OpenSSH reads it, against a real sshd: `Match host`
(the name after HostName substitution) and `Match user` with negation,
`Match` inside an `Include`d file, `Match exec` and `Match localuser`
(OpenSSH's own `ssh -G` evaluates them), `HostKeyAlias` and
`UserKnownHostsFile` (the only place the host key is recorded, under the
alias), and `IdentitiesOnly` keeping an ssh-agent's other keys out. Without
an `ssh` client the kernel's own reader resolves hosts, and a `Match` it
cannot evaluate is an error only for the hosts it may apply to.

The kernels here get a temporary HOME; OpenSSH reads relative `Include`
paths under the account's own home (the password database's), so the
configurations here name included files by absolute paths, as a user whose
HOME is not their account's home would."""
from __future__ import annotations

import getpass
import os
import pathlib
import shutil
import subprocess
import time

import pytest

from harness.sshd import TEST_USER, Sshd, keygen, running as sshd_running
from test_server_check import check_table
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


def new_server(kernel: Kernel, name: str, host: str, transport: str = "auto"):
    return kernel.execute(
        f"%crimpl server new ssh {name} --host {host} --directory ~/{DIRECTORY}/{name} --replace "
        f"--transport {transport}"
    )


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
    (ssh_dir / "config").write_text(f"Include {ssh_dir}/config.d/*\nHost *\n  IdentityFile ~/.ssh/absent\n")
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


def exec_and_localuser_config(sshd: Sshd, home: pathlib.Path) -> None:
    """A config whose blocks only `Match exec` and `Match localuser` select:
    the port and user that reach the test sshd come from them alone."""
    marker = home / "on-the-vpn"
    marker.touch()
    (home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
    (home / ".ssh" / "config").write_text(
        f"Match originalhost box exec \"test -e {marker}\"\n  Port {sshd.port}\n"
        f"Match originalhost box exec \"test -e {home / 'absent'}\"\n  Port 1\n"
        f"Match localuser {getpass.getuser()} originalhost box\n  User {TEST_USER}\n"
        "Match localuser nobody-else\n  User nobody\n"
        "Match exec \"exit 1\" originalhost elsewhere\n  Port 2\n"
        "Host box\n  HostName 127.0.0.1\n"
    )


@system
@pytest.mark.parametrize("transport", ["libssh2", "openssh"])
def test_match_exec_and_localuser_are_evaluated_by_openssh(sshd, tmp_path, workdir, config_dir, transport):
    """Either way in reaches the host these blocks alone select: the kernel's
    own connection with what `ssh -G` resolved, or the user's `ssh` itself."""
    home = home_with_key(sshd, tmp_path)
    exec_and_localuser_config(sshd, home)
    kernel = Kernel(workdir, kernel_env(config_dir, home=home))
    try:
        made = new_server(kernel, "vpn", "box", transport)
        assert made.ok, made.error
        ran = kernel.execute("%%crimpl run --server vpn\necho reached $(whoami)\n")
        assert ran.ok and f"reached {TEST_USER}" in ran.text, ran.error or ran.text
        way_in = check_table(kernel.execute("%crimpl server check vpn"))["way in"]["found"]
        assert way_in.startswith(transport), way_in
        checked = kernel.execute("%crimpl server check vpn")
        assert checked.ok, checked.error
        if transport == "libssh2":
            assert "ssh settings resolved by OpenSSH (`ssh -G`)" in checked.text, checked.text
        else:
            connected = check_table(checked)["connect (OpenSSH)"]["found"]
            assert connected.startswith(f"{TEST_USER}@127.0.0.1:{sshd.port} "), connected
        shown = kernel.execute("%crimpl server show vpn").text
        assert f"{TEST_USER}@127.0.0.1:{sshd.port}" in shown and "resolved by OpenSSH" in shown, shown
    finally:
        kernel.shutdown()


@system
def test_without_an_ssh_client_an_unevaluable_match_is_an_error_only_for_its_hosts(
    sshd, tmp_path, workdir, config_dir
):
    """The kernel's own reader, where no `ssh` is on PATH: a `Match exec` for
    other hosts is left out; one that may apply to the host is named."""
    home = home_with_key(sshd, tmp_path)
    exec_and_localuser_config(sshd, home)
    bin_dir = tmp_path / "bin-without-ssh"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to("/bin/sh")
    env = kernel_env(config_dir, home=home)
    env["PATH"] = str(bin_dir)
    kernel = Kernel(workdir, env)
    try:
        made = new_server(kernel, "vpn", "box")
        assert not made.ok
        assert 'Match exec "test -e' in made.error and '"box"' in made.error, made.error
        assert "install OpenSSH's client" in made.error
        (home / ".ssh" / "config").write_text(
            "Match exec \"exit 1\" originalhost elsewhere\n  Port 2\n"
            f"Host box\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {TEST_USER}\n"
        )
        unrelated = new_server(kernel, "plain", "box")
        assert unrelated.ok, unrelated.error
        checked = kernel.execute("%crimpl server check plain")
        assert "ssh settings resolved by the kernel's own ~/.ssh/config reader" in checked.text, checked.text
        shown = kernel.execute("%crimpl server show plain").text
        assert "resolved by the kernel's own ~/.ssh/config reader" in shown, shown
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
