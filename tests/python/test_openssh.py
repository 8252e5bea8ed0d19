"""The OpenSSH way in (`--transport openssh|auto`) against real sshds on
loopback: user and host certificates that only OpenSSH can use, the user's
own live ControlMaster, and prompts answered in the notebook through askpass."""
from __future__ import annotations

import os
import pathlib
import subprocess
import tempfile
import time
import uuid

import pytest

from harness.sshd import TEST_USER, Sshd, keygen, running as sshd_running
from kernel_helpers import Kernel, kernel_env
from test_server_check import check_table, statuses
from test_ssh_connect import pam_sshd  # noqa: F401 - the fixture: an sshd taking only a password

DIRECTORY = "crimpl-tests-openssh"
pytestmark = pytest.mark.system  # a test user, sshd as root


def sign(ca: pathlib.Path, public_key: pathlib.Path, *args: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "crimpl-test", "-V", "-5m:+1h", *args, str(public_key)],
        check=True,
    )


def new_server(kernel: Kernel, host: str, transport: str, name: str = "remote") -> object:
    return kernel.execute(
        f"%crimpl server new ssh {name} --host {host} --transport {transport} "
        f"--directory ~/{DIRECTORY}/{uuid.uuid4().hex[:8]}\n%crimpl server use {name}"
    )


def job_cycle(kernel: Kernel, workdir: pathlib.Path) -> None:
    """Submit, status and fetch a real job."""
    submitted = kernel.execute("%%crimpl submit --job cyc --wait\necho out > result.txt\n", timeout=60)
    assert submitted.ok, submitted.error
    status = kernel.execute("%crimpl status cyc")
    assert status.ok and "complete" in status.text, status.text + status.error
    fetched = kernel.execute(f"%crimpl fetch cyc --to {workdir / 'got'}")
    assert fetched.ok, fetched.error
    assert (workdir / "got" / "result.txt").read_text() == "out\n"


@pytest.fixture(scope="module")
def ca_sshd(tmp_path_factory):
    """An sshd trusting only a user CA (no authorized_keys), whose host key is
    certified by a host CA; the client's known_hosts holds only `@cert-authority`."""
    base = tmp_path_factory.mktemp("ca-sshd")
    user_ca, host_ca = base / "user_ca", base / "host_ca"
    keygen(user_ca)
    keygen(host_ca)
    with sshd_running(
        base,
        DIRECTORY,
        extra_config=(
            f"TrustedUserCAKeys {user_ca}.pub\nHostCertificate {base / 'host_ed25519-cert.pub'}\n"
            f"Match User {TEST_USER}\n  AuthorizedKeysFile none\n"
        ),
    ) as server:
        server.stop()
        sign(host_ca, base / "host_ed25519.pub", "-h", "-n", "127.0.0.1")
        server.start()
        server.user_ca = user_ca
        server.host_ca_line = f"@cert-authority [127.0.0.1]:{server.port} {(host_ca.with_suffix('.pub')).read_text()}"
        yield server


@pytest.mark.parametrize("key_type", ["ed25519", "rsa"])
def test_a_user_certificate_logs_in_through_openssh_only(ca_sshd: Sshd, key_type, workdir, config_dir):
    ssh_dir = ca_sshd.home / ".ssh"
    key = ssh_dir / f"id_{key_type}"
    for stale in ssh_dir.glob("id_*"):
        stale.unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(key)], check=True)
    sign(ca_sshd.user_ca, key.with_suffix(".pub"), "-n", TEST_USER)
    (ssh_dir / "config").write_text(
        f"Host {ca_sshd.host_alias}\n  HostName 127.0.0.1\n  Port {ca_sshd.port}\n  User {TEST_USER}\n"
        f"  IdentityFile {key}\n"
    )
    ca_sshd.trust_host_key()
    # OpenSSH itself logs in with these files.
    ssh = subprocess.run(
        ["ssh", "-F", str(ssh_dir / "config"), "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={ca_sshd.known_hosts}",
         ca_sshd.host_alias, "echo in"],
        capture_output=True, text=True, timeout=30,
    )
    assert ssh.stdout == "in\n", ssh.stderr
    kernel = Kernel(workdir, kernel_env(config_dir, home=ca_sshd.home))
    try:
        refused = new_server(kernel, ca_sshd.host_alias, "libssh2", name="plain")
        assert not refused.ok, "libssh2 cannot use a certificate: the test would prove nothing"
        made = new_server(kernel, ca_sshd.host_alias, "auto")
        assert made.ok, made.error
        shown = kernel.execute("%crimpl server show")
        assert "openssh" in shown.text and "certificate" in shown.text, shown.text
        job_cycle(kernel, workdir)
        checked = kernel.execute("%crimpl server check remote")
        assert checked.ok, checked.error
        table = check_table(checked)
        assert table["way in"]["found"].startswith("openssh"), table["way in"]
        assert "certificate" in table["way in"]["found"], table["way in"]
        assert set(statuses(table).values()) == {"ok"}, table
    finally:
        kernel.shutdown()


def test_a_host_known_only_by_its_certificate_authority(ca_sshd: Sshd, workdir, config_dir):
    ssh_dir = ca_sshd.home / ".ssh"
    key = ssh_dir / "id_ed25519"
    for stale in ssh_dir.glob("id_*"):
        stale.unlink()
    keygen(key)
    sign(ca_sshd.user_ca, key.with_suffix(".pub"), "-n", TEST_USER)
    ca_sshd.known_hosts.write_text(ca_sshd.host_ca_line)
    (ssh_dir / "config").write_text(
        f"Host {ca_sshd.host_alias}\n  HostName 127.0.0.1\n  Port {ca_sshd.port}\n  User {TEST_USER}\n"
        f"  IdentityFile {key}\n"
    )
    kernel = Kernel(workdir, kernel_env(config_dir, home=ca_sshd.home))
    try:
        made = new_server(kernel, ca_sshd.host_alias, "auto")
        assert made.ok, made.error
        ran = kernel.execute("%%crimpl run\necho \"in as $(id -un)\"\n", timeout=30)
        assert ran.ok and f"in as {TEST_USER}" in ran.text, ran.error
    finally:
        kernel.shutdown()
        ca_sshd.trust_host_key()


def logins(sshd: Sshd) -> int:
    return sshd.log.read_text().count("Accepted keyboard-interactive/pam")


def logins_after(sshd: Sshd, earlier: int) -> int:
    """The count of logins once sshd has logged one more than `earlier`.
    sshd's monitor writes "Accepted" on its own time: the client may already
    be in (and `ssh -f` returned) before the line is in the log."""
    deadline = time.monotonic() + 30
    while (count := logins(sshd)) <= earlier and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count > earlier, "sshd never logged the login the test made"
    return count


def test_a_password_is_asked_in_the_notebook_through_askpass(pam_sshd, workdir, config_dir, tmp_path):
    sshd, password = pam_sshd
    log = tmp_path / "kernel.log"
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home), log=log)
    before = logins(sshd)
    try:
        msg_id = kernel.kc.execute(
            f"%crimpl server new ssh pw --host {sshd.host_alias} --transport openssh "
            f"--directory ~/{DIRECTORY}/pw\n%crimpl server use pw",
            allow_stdin=True,
        )
        request = kernel.kc.get_stdin_msg(timeout=30)
        assert request["content"]["password"] is True
        assert "password" in request["content"]["prompt"].lower(), request["content"]
        kernel.kc.input(password)
        made = kernel.collect(msg_id)
        assert made.ok, made.error
        job_cycle(kernel, workdir)
        # Every command rode the one master: one login in all.
        assert logins_after(sshd, before) - before == 1
    finally:
        kernel.shutdown()
    for path in [log, *config_dir.rglob("*"), *workdir.rglob("*"), *sshd.home.rglob("*")]:
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path


def test_without_stdin_a_password_login_says_so(pam_sshd, workdir, config_dir):
    sshd, _ = pam_sshd
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    try:
        msg_id = kernel.kc.execute(
            f"%crimpl server new ssh pw --host {sshd.host_alias} --transport openssh --directory ~/{DIRECTORY}/pw",
            allow_stdin=False,
        )
        result = kernel.collect(msg_id)
        assert not result.ok
        assert "does not accept input" in result.error, result.error
        assert kernel.alive()
    finally:
        kernel.shutdown()


def test_the_users_own_control_master_is_ridden_without_a_new_login(pam_sshd, workdir, config_dir, tmp_path):
    sshd, password = pam_sshd
    ssh_dir = sshd.home / ".ssh"
    # A socket's path has at most 107 bytes: pytest's tmp_path is too deep.
    holder = tempfile.TemporaryDirectory(prefix="crimpl-cm-", dir="/tmp")
    sockets = pathlib.Path(holder.name)
    config = ssh_dir / "config"
    original = config.read_text()
    config.write_text(original + f"  ControlMaster auto\n  ControlPath {sockets}/%C\n  ControlPersist 5m\n")
    answer = tmp_path / "answer.sh"
    answer.write_text(f"#!/bin/sh\necho '{password}'\n")
    answer.chmod(0o700)
    earlier = logins(sshd)
    # The user's terminal: one login, answered once, kept open.
    env = {**os.environ, "SSH_ASKPASS": str(answer), "SSH_ASKPASS_REQUIRE": "force"}
    base = ["ssh", "-F", str(config), "-o", f"UserKnownHostsFile={sshd.known_hosts}"]
    opened = subprocess.run([*base, "-f", "-N", sshd.host_alias], env=env, timeout=30, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert opened.returncode == 0, opened.stderr
    answer.unlink()
    before = logins_after(sshd, earlier)
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home), log=tmp_path / "kernel.log")
    try:
        made = new_server(kernel, sshd.host_alias, "auto")
        assert made.ok, made.error
        shown = kernel.execute("%crimpl server show")
        assert "ControlPath" in shown.text, shown.text
        job_cycle(kernel, workdir)
        assert logins(sshd) == before, "the kernel logged in again instead of riding the user's master"
    finally:
        kernel.shutdown()
        subprocess.run([*base, "-O", "exit", sshd.host_alias], check=False, capture_output=True)
        config.write_text(original)
        holder.cleanup()


@pytest.fixture(scope="module")
def plain_sshd(tmp_path_factory):
    with sshd_running(tmp_path_factory.mktemp("plain"), DIRECTORY) as server:
        with open(server.home / ".ssh" / "config", "a") as config:
            config.write("  ServerAliveInterval 2\n  ServerAliveCountMax 2\n")
        yield server


@pytest.fixture
def openssh_kernel(plain_sshd, workdir, config_dir):
    kernel = Kernel(workdir, kernel_env(config_dir, home=plain_sshd.home))
    made = new_server(kernel, plain_sshd.host_alias, "openssh")
    assert made.ok, made.error
    kernel.directory = made_directory(kernel)
    yield kernel
    kernel.shutdown()


def made_directory(kernel: Kernel) -> str:
    shown = kernel.execute("%crimpl server show")
    return next(line.split()[-1] for line in shown.text.splitlines() if line.strip().startswith("directory"))


def test_a_silent_command_outlives_many_keepalive_intervals(openssh_kernel):
    result = openssh_kernel.execute("%%crimpl run\nsleep 12\necho woke\n", timeout=60)
    assert result.ok, result.error
    assert "woke" in result.text


def test_an_interrupted_run_ends_its_process_group_over_openssh(openssh_kernel, plain_sshd):
    from test_ssh_commands import running, wait_for_output

    msg_id = openssh_kernel.kc.execute(
        "%%crimpl run\necho $$ > run.pid\nsleep 600 &\necho $! > sleep.pid\necho started\nwait\necho never\n"
    )
    wait_for_output(openssh_kernel, msg_id, "started")
    openssh_kernel.km.interrupt_kernel()
    result = openssh_kernel.collect(msg_id, timeout=30)
    assert result.reply["status"] == "error" and result.reply["ename"] == "Interrupted", result.reply
    assert "stopped the script" in result.error, result.error
    assert "never" not in result.text
    directory = openssh_kernel.directory
    script_pid = int(plain_sshd.run_as_user(f"cat {directory}/run.pid"))
    sleep_pid = int(plain_sshd.run_as_user(f"cat {directory}/sleep.pid"))
    assert not running(script_pid) and not running(sleep_pid)
    after = openssh_kernel.execute("%%crimpl run\nls\n", timeout=30)
    assert after.ok and "run.pid" in after.text, after.error
