"""The SSH server against a real OpenSSH sshd on loopback."""
from __future__ import annotations

import os
import pathlib
import queue
import stat
import subprocess
import time
import uuid

import pytest

from harness.sshd import TEST_USER, Sshd, keygen, running as sshd_running
from kernel_helpers import Kernel, kernel_env, wait_for

DIRECTORY = "crimpl-tests"
pytestmark = pytest.mark.system  # a test user, sshd as root


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    with sshd_running(tmp_path_factory.mktemp("sshd"), DIRECTORY, "crimpl-notebook-demo") as server:
        yield server


def ssh_kernel_for(sshd: Sshd, workdir, config_dir, host: str | None = None) -> Kernel:
    """A kernel with server `remote` on `host` (the test alias by default), in use."""
    sshd.trust_host_key()
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    kernel.directory = f"~/{DIRECTORY}/{uuid.uuid4().hex[:8]}"
    result = kernel.execute(
        f"%crimpl server new ssh remote --host {host or sshd.host_alias} --directory {kernel.directory}\n"
        "%crimpl server use remote"
    )
    assert result.ok, result.error
    return kernel


@pytest.fixture
def ssh_kernel(sshd, workdir, config_dir):
    kernel = ssh_kernel_for(sshd, workdir, config_dir)
    yield kernel
    kernel.shutdown()




def test_one_session_serves_every_command(ssh_kernel, sshd):
    """Commands reuse the open connection: no new login per operation."""
    before = sshd.log.read_text().count("Accepted publickey")
    for _ in range(3):
        assert ssh_kernel.execute("%crimpl jobs").ok
    assert ssh_kernel.execute("%%crimpl submit --job reuse --wait\ntrue\n").ok
    assert sshd.log.read_text().count("Accepted publickey") == before


def test_hundred_jobs_are_listed_in_one_command(ssh_kernel, sshd):
    setup = ssh_kernel.execute(
        "%%crimpl run\n"
        "for i in $(seq 1 100); do mkdir -p crimpl-job-bulk$i; echo complete > crimpl-job-bulk$i/crimpl-job.status; done\n"
    )
    assert setup.ok, setup.error
    before = sshd.sessions_started()
    listing = ssh_kernel.execute("%crimpl jobs")
    assert listing.ok
    assert sum(1 for line in listing.text.splitlines() if line.startswith("bulk")) == 100
    assert sshd.sessions_started() - before == 1




def test_unknown_host_key_is_refused_with_its_fingerprint_until_trusted(sshd, workdir, config_dir):
    sshd.known_hosts.write_text("")
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    try:
        result = kernel.execute(f"%crimpl server new ssh fresh --host {sshd.host_alias} --directory ~/{DIRECTORY}/trust")
        assert not result.ok
        assert "is not known" in result.error and "SHA256:" in result.error
        fingerprint = next(word for word in result.error.split() if word.startswith("SHA256:")).rstrip(".")
        expected = subprocess.run(
            ["ssh-keygen", "-lf", str(sshd.base / "host_ed25519.pub")], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        assert fingerprint == expected
        wrong = kernel.execute("%crimpl server trust fresh SHA256:not-the-right-one")
        assert not wrong.ok and "nothing was recorded" in wrong.error
        trusted = kernel.execute(f"%crimpl server trust fresh {fingerprint}")
        assert trusted.ok, trusted.error
        assert f"[127.0.0.1]:{sshd.port}" in sshd.known_hosts.read_text()
        assert kernel.execute("%%crimpl run --server fresh\necho ok\n").ok
    finally:
        kernel.shutdown()
        sshd.trust_host_key()


def test_changed_host_key_is_always_refused(sshd, workdir, config_dir, tmp_path):
    other_key = keygen(tmp_path / "impostor")
    sshd.known_hosts.write_text(sshd.known_hosts_line(other_key))
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    try:
        result = kernel.execute(f"%crimpl server new ssh moved --host {sshd.host_alias} --directory ~/{DIRECTORY}/moved")
        assert not result.ok and "HOST KEY CHANGED" in result.error and "ssh-keygen -R" in result.error
        fingerprint = next(w for w in result.error.split() if w.startswith("SHA256:")).rstrip(",")
        still = kernel.execute(f"%crimpl server trust moved {fingerprint}")
        assert not still.ok and "HOST KEY CHANGED" in still.error
    finally:
        kernel.shutdown()
        sshd.trust_host_key()


def test_a_refused_key_is_a_clear_error(sshd, workdir, config_dir, tmp_path):
    stranger = tmp_path / "stranger"
    keygen(stranger)
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    try:
        result = kernel.execute(
            f"%crimpl server new ssh nokey --host {TEST_USER}@127.0.0.1:{sshd.port} --directory ~/{DIRECTORY}/k"
        )
        assert result.ok, result.error  # the default key is authorized
        config = sshd.home / ".ssh" / "config"
        original = config.read_text()
        config.write_text(original.replace("IdentityFile ~/.ssh/id_ed25519", f"IdentityFile {stranger}"))
        try:
            refused = kernel.execute(f"%crimpl server new ssh refused --host {sshd.host_alias} --directory ~/{DIRECTORY}/k")
        finally:
            config.write_text(original)
        assert not refused.ok and "refused every key" in refused.error and "authorized_keys" in refused.error
        assert kernel.alive()
    finally:
        kernel.shutdown()


def test_wait_survives_sshd_going_away_and_coming_back(ssh_kernel, sshd):
    assert ssh_kernel.execute("%%crimpl submit --job outlive\nsleep 6\necho finished\n").ok
    wait_for(ssh_kernel, "outlive", "running")
    msg_id = ssh_kernel.kc.execute("%crimpl wait outlive --poll 0.5")
    # The wait has read the job once (its display is up) before the host goes away.
    assert any(m["msg_type"] in ("display_data", "update_display_data") for m in ssh_kernel.iopub_for(msg_id, 1.0))
    sshd.stop()
    time.sleep(2.5)  # the outage: five polls find no host
    status_file = next(pathlib.Path(sshd.user.pw_dir).glob("**/crimpl-job-outlive/crimpl-job.status"))
    still_running = status_file.read_text().strip()
    with pytest.raises(queue.Empty):  # the wait did not end during the outage
        ssh_kernel.kc.get_shell_msg(timeout=0)
    sshd.start()
    assert still_running == "running", "the outage must fall inside the job's run"
    result = ssh_kernel.collect(msg_id, timeout=60)
    assert result.reply["status"] == "ok", result.reply
    # While the host is away, the server's one poll waits for it and the
    # watchers show the last status read; the wait then ends with the job.
    assert "complete" in result.text


def test_ssh_notebook_runs_under_nbclient(sshd, tmp_path):
    from test_notebooks import outputs_text, run_again_unchanged, run_notebook

    env = kernel_env(tmp_path / "config", home=sshd.home)
    env["CRIMPL_SSH_HOST"] = sshd.host_alias
    notebook = run_notebook("ssh.ipynb", tmp_path / "out", env)
    joined = "\n".join(outputs_text(notebook))
    assert f"as {TEST_USER}" in joined
    assert "100 values, mean 50.5" in joined
    assert (tmp_path / "out" / "ssh-results" / "summary.txt").exists()
    run_again_unchanged("ssh.ipynb", tmp_path / "out", env, pathlib.Path(sshd.user.pw_dir) / "crimpl-notebook-demo")


def test_server_and_job_directories_are_private_unless_group_readable(sshd, workdir, config_dir):
    """A login node is a shared machine: what the kernel creates there is the
    user's alone (0700), or the user's group's too with --group-readable."""
    sshd.trust_host_key()
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    base = pathlib.Path(sshd.user.pw_dir) / DIRECTORY / uuid.uuid4().hex[:8]
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    try:
        for name, flag, expected, shown in (
            ("private", "", 0o700, "private to you (0700)"),
            ("shared", " --group-readable", 0o750, "readable by your group (0750)"),
        ):
            made = kernel.execute(
                f"%crimpl server new ssh {name} --host {sshd.host_alias} --directory {base / name}{flag}"
            )
            assert made.ok, made.error
            submitted = kernel.execute(f"%%crimpl submit --server {name} --job j --wait\necho hi > out.txt\n")
            assert submitted.ok, submitted.error
            assert mode(base / name) == expected and mode(base / name / "crimpl-job-j") == expected
            # What the kernel wrote there carries the time of the submit (it read 1970).
            for written in ("crimpl-wrapper.sh", "crimpl_submit_script.sh", "crimpl-input-files.list"):
                assert time.time() - (base / name / "crimpl-job-j" / written).stat().st_mtime < 600, written
            assert shown in kernel.execute(f"%crimpl server show {name}").text
        (base / "private").chmod(0o777)
        checked = kernel.execute("%crimpl server check private")
        assert not checked.ok
        assert "can be written by every user" in checked.error and "chmod 700" in checked.error, checked.error
    finally:
        kernel.shutdown()


def test_a_taken_name_with_a_big_input_is_refused_not_waited_on(ssh_kernel, workdir):
    """The job directory is taken, so the host's command ends without reading
    the upload (48 MB, more than the channel's window and the socket buffers):
    the refusal comes, the kernel does not wait for ever to send input nobody
    reads (it did: the same cell in a new kernel after a submit cut short)."""
    (workdir / "big.bin").write_bytes(os.urandom(48 << 20))
    first = ssh_kernel.execute("%%crimpl submit --job big --files big.bin\ntrue\n", timeout=120)
    assert first.ok, first.error
    # Another script under the same name: refused (before anything is sent).
    again = ssh_kernel.execute("%%crimpl submit --job big --files big.bin\nfalse\n", timeout=60)
    assert not again.ok and 'job "big" exists already' in again.error, again.error
    assert "the script: 2 lines differ" in again.error, again.error
    status = ssh_kernel.execute("%crimpl status big")
    assert status.ok, status.error  # the connection still serves
