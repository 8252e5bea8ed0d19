"""Commands over an established SSH session, against a real sshd on loopback:
silence is not failure, a host that stops answering is, an interrupt ends
what `run` started, and any login shell gets sh's behaviour."""
from __future__ import annotations

import pathlib
import queue
import signal
import time

import pytest

from harness import processes, users
from harness.sshd import TEST_USER, Sshd, running as sshd_running
from kernel_helpers import Kernel, kernel_env
from test_ssh import ssh_kernel_for

DIRECTORY = "crimpl-tests"
pytestmark = pytest.mark.system  # test users, sshd as root


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    with sshd_running(tmp_path_factory.mktemp("sshd"), DIRECTORY) as server:
        yield server


@pytest.fixture
def ssh_kernel(sshd, workdir, config_dir):
    kernel = ssh_kernel_for(sshd, workdir, config_dir)
    yield kernel
    kernel.shutdown()


def wait_for_output(kernel: Kernel, msg_id: str, text: str, timeout: float = 60) -> None:
    """Read the cell's iopub messages until a stream shows `text`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            if text in msg["content"]["text"]:
                return
    raise AssertionError(f"the cell never printed {text!r}")


def running(pid: int) -> bool:
    process = processes.read(pid)
    return process is not None and process.running


def test_a_silent_run_is_not_a_failure(ssh_kernel):
    """Longer than the default keepalive interval times the count's first steps."""
    result = ssh_kernel.execute("%%crimpl run\nsleep 60\necho woke\n", timeout=120)
    assert result.ok, result.error
    assert "woke" in result.text


def test_a_silent_job_is_waited_for(ssh_kernel):
    result = ssh_kernel.execute("%%crimpl submit --job quiet --wait\nsleep 50\necho done\n", timeout=120)
    assert result.ok, result.error
    assert "done" in result.text
    assert "complete" in ssh_kernel.execute("%crimpl status quiet").text


def test_a_host_that_stops_answering_fails_the_cell_and_the_kernel_goes_on(sshd, tmp_path, workdir, config_dir):
    """The connection's sshd processes are stopped (SIGSTOP): TCP stays up,
    nothing answers. With ServerAliveInterval 2 and ServerAliveCountMax 2
    the cell fails, says why, and the next command reconnects. A second sshd
    of its own, so that only this kernel's connection is stopped."""
    frozen = Sshd(tmp_path / "frozen")
    stopped: list[processes.Process] = []
    kernel = None
    try:
        with open(frozen.home / ".ssh" / "config", "a") as config:
            config.write("  ServerAliveInterval 2\n  ServerAliveCountMax 2\n")
        kernel = ssh_kernel_for(frozen, workdir, config_dir)
        msg_id = kernel.kc.execute("%%crimpl run\necho started\nsleep 600\n")
        wait_for_output(kernel, msg_id, "started")
        stopped = frozen.session_processes()
        assert stopped, "no sshd process serves the kernel's connection"
        for process in stopped:
            processes.send(process, signal.SIGSTOP)
        result = kernel.collect(msg_id, timeout=90)
        assert not result.ok
        assert "stopped answering" in result.error and "ServerAliveCountMax 2" in result.error, result.error
        # The old connection is still frozen: the next command makes a new one.
        again = kernel.execute("%%crimpl run\necho back\n")
        assert again.ok and "back" in again.text, again.error
        assert kernel.execute("%crimpl server list").ok
    finally:
        for process in stopped:
            processes.send(process, signal.SIGCONT)
        if kernel is not None:
            kernel.shutdown()
        frozen.stop()
        # The test user's authorized key is the module's sshd client's again.
        sshd.authorize(sshd.client_pub)


def test_interrupted_run_ends_its_process_group_and_frees_the_session(ssh_kernel, sshd):
    msg_id = ssh_kernel.kc.execute(
        "%%crimpl run\necho $$ > run.pid\nsleep 600 &\necho $! > sleep.pid\necho started\nwait\necho never\n"
    )
    wait_for_output(ssh_kernel, msg_id, "started")
    ssh_kernel.km.interrupt_kernel()
    result = ssh_kernel.collect(msg_id, timeout=30)
    assert result.reply["status"] == "error"
    assert result.reply["ename"] == "Interrupted"
    assert "stopped the script" in result.error and "free for the next command" in result.error, result.error
    assert "never" not in result.text
    directory = ssh_kernel.directory
    script_pid = int(sshd.run_as_user(f"cat {directory}/run.pid"))
    sleep_pid = int(sshd.run_as_user(f"cat {directory}/sleep.pid"))
    assert not running(script_pid) and not running(sleep_pid)
    # The next command gets the session at once (the old one would hold it for 600 s).
    after = ssh_kernel.execute("%%crimpl run\nls\n", timeout=30)
    assert after.ok, after.error
    assert "run.pid" in after.text
    # The stop removed the interrupted script and its pid file: only the `ls` run's own are there.
    runs = {line.split(".")[1] for line in after.text.splitlines() if line.startswith("crimpl_run_script.")}
    assert len(runs) == 1, after.text


@pytest.fixture(scope="module")
def tcsh_user(sshd):
    user = users.make_user(f"{TEST_USER}tcsh", shell="/bin/tcsh")
    try:
        sshd.authorize(sshd.client_pub, user.entry)
        yield user
    finally:
        user.stop()


def test_a_tcsh_login_shell_gets_sh_behaviour(tcsh_user, sshd, workdir, config_dir):
    kernel = ssh_kernel_for(sshd, workdir, config_dir, host=f"{tcsh_user.name}@{sshd.host_alias}")
    try:
        run = kernel.execute(
            "%%crimpl run\necho \"shell=$SHELL user=$(id -un)\"\nfor i in 1 2; do\n  echo \"n$i\"\ndone\n"
        )
        assert run.ok, run.error
        assert f"shell=/bin/tcsh user={tcsh_user.name}" in run.text and "n1\nn2" in run.text
        (workdir / "in put.txt").write_text("3\n4\n")
        submitted = kernel.execute(
            "%%crimpl submit --job sum --files 'in put.txt' --wait\n"
            "awk '{ s += $1 } END { print s }' 'in put.txt' > total.txt\necho \"it's done!\"\n"
        )
        assert submitted.ok, submitted.error
        assert "it's done!" in submitted.text
        assert "complete" in kernel.execute("%crimpl status sum").text
        assert kernel.execute("%%crimpl submit --job sleeper\nsleep 300\n").ok
        jobs = kernel.execute("%crimpl jobs")
        assert jobs.ok and "sum" in jobs.text and "sleeper" in jobs.text, jobs.error
        time.sleep(0.5)
        killed = kernel.execute("%crimpl kill sleeper")
        assert killed.ok and "canceled" in killed.text, killed.error
        fetched = kernel.execute("%crimpl fetch sum")
        assert fetched.ok, fetched.error
        assert (workdir / "total.txt").read_text() == "7\n"
    finally:
        kernel.shutdown()


@pytest.fixture(scope="module")
def talkative_user(sshd):
    """A user whose startup files talk, as many clusters' do: ~/.bashrc prints a
    banner on stdout and a module message on stderr for every command (sshd
    makes bash read it), and ~/.profile (login shells) prints one more."""
    user = users.make_user(f"{TEST_USER}talk")
    home = pathlib.Path(user.entry.pw_dir)
    bashrc = home / ".bashrc"
    bashrc.write_text(
        'echo "Welcome to the cluster! Quota: 80% used"\necho "module: gcc/12 loaded" >&2\n' + bashrc.read_text()
    )
    profile = home / ".profile"
    profile.write_text('echo "Message of the day: maintenance on Friday"\n' + profile.read_text())
    try:
        sshd.authorize(sshd.client_pub, user.entry)
        yield user
    finally:
        user.stop()


@pytest.mark.parametrize("login_shell", [False, True], ids=["plain", "login-shell"])
def test_a_talkative_login_breaks_nothing(talkative_user, login_shell, sshd, workdir, config_dir):
    sshd.trust_host_key()
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    banners = ("Welcome to the cluster", "module: gcc/12", "Message of the day")
    try:
        made = kernel.execute(
            f"%crimpl server new ssh talk --host {talkative_user.name}@{sshd.host_alias} "
            f"--directory ~/{DIRECTORY}/talk-{int(login_shell)}" + (" --login-shell" if login_shell else "")
            + "\n%crimpl server use talk"
        )
        assert made.ok, made.error
        run = kernel.execute("%%crimpl run\necho only this\n")
        assert run.ok, run.error
        assert run.text.strip() == "only this", run.text
        failed = kernel.execute("%%crimpl run\necho why >&2\nexit 3\n")
        assert not failed.ok and "exited with code 3" in failed.error and "why" in failed.text
        assert not any(banner in failed.text + failed.error for banner in banners), failed.text
        payload = bytes(range(256)) * 64
        (workdir / "blob.bin").write_bytes(payload)
        submitted = kernel.execute(
            "%%crimpl submit --job copy --files blob.bin --wait\ncp blob.bin copy.bin\necho done > note.txt\n"
        )
        assert submitted.ok, submitted.error
        assert "complete" in kernel.execute("%crimpl status copy").text
        jobs = kernel.execute("%crimpl jobs")
        assert jobs.ok and "copy" in jobs.text, jobs.error
        fetched = kernel.execute("%crimpl fetch copy")
        assert fetched.ok, fetched.error
        assert (workdir / "copy.bin").read_bytes() == payload
        assert (workdir / "note.txt").read_text() == "done\n"
        seen = "\n".join(kernel.execute(cell).text for cell in ("%crimpl log copy", "%crimpl ls copy"))
        assert not any(banner in seen for banner in banners), seen
        checked = kernel.execute("%crimpl server check talk")
        assert checked.ok, checked.error
        assert "startup files print text before every command" in checked.text and "Welcome to the cluster" in checked.text
    finally:
        kernel.shutdown()
