"""A kernel that never hangs and jobs that never lie (issue 10): odd input and
forced panics leave the kernel answering; a reused pid is never the job;
two `run`s never collide; fetch reports what it could not write; big logs,
listings and outputs pass in bounded memory."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import threading

import pytest
import zmq

from kernel_helpers import Kernel, kernel_env
from test_local_jobs import job_dir, job_pid, process_alive


def complete(kernel: Kernel, code: str, cursor: int) -> dict:
    msg_id = kernel.kc.complete(code, cursor)
    while True:
        reply = kernel.kc.get_shell_msg(timeout=10)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def test_odd_characters_and_cursors_in_completion(kernel):
    nbsp = "%crimpl\u00a0st"  # Option+Space on a Mac
    reply = complete(kernel, nbsp, len(nbsp))
    assert reply["status"] == "ok"
    assert "status" in reply["matches"]
    # cursor_pos counts code points: the range covers "st" (2 code points).
    assert reply["cursor_end"] - reply["cursor_start"] == 2
    for code, cursor in [("%crimpl é✓", 99), ("✓✓✓", 2), ("%crimpl \u2003", 9), ("", 5)]:
        assert complete(kernel, code, cursor)["status"] == "ok"
    assert kernel.alive()


@pytest.mark.parametrize(
    "line, words",
    [
        ("%crimpl wait --poll 1e20", ["--poll", "0.1 to 86400"]),
        ("%crimpl wait --poll NaN", ["--poll"]),
        ("%crimpl wait --poll inf", ["--poll"]),
        ("%crimpl log --tail=-3", ["--tail"]),
        ("%crimpl log --tail 99999999999999999999", ["--tail"]),
        ("%%crimpl submit --nprocs 0\necho x\n", ["--nprocs", "1..=65536"]),
        ("%%crimpl submit --nprocs 4294967297\necho x\n", ["--nprocs"]),
    ],
)
def test_numbers_outside_their_range_are_usage_errors(local_kernel, line, words):
    result = local_kernel.execute(line)
    assert result.reply["status"] == "error"
    assert result.reply["ename"] == "UsageError", result.reply
    for word in words:
        assert word in result.error
    assert local_kernel.alive()


@pytest.fixture
def panicky_kernel(workdir, config_dir):
    """A kernel whose inspect (shell) and interrupt (control) handlers panic on purpose."""
    env = kernel_env(config_dir)
    env["CRIMPL_KERNEL_TEST_PANIC_ON"] = "inspect_request"
    k = Kernel(workdir, env)
    yield k
    k.shutdown()


def test_a_panic_in_a_handler_is_an_error_reply_and_the_kernel_goes_on(panicky_kernel):
    kc = panicky_kernel.kc
    msg_id = kc.inspect("%crimpl status", 8)
    while True:
        reply = kc.get_shell_msg(timeout=10)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["msg_type"] == "inspect_reply"
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "InternalError"
    assert "inspect_request" in reply["content"]["evalue"]
    # The same shell loop answers the next requests.
    assert panicky_kernel.alive()
    result = panicky_kernel.execute("%crimpl help")
    assert result.ok, result.error
    assert complete(panicky_kernel, "%crimpl st", 10)["status"] == "ok"


def test_a_panic_in_a_cell_shows_in_the_cell(workdir, config_dir):
    env = kernel_env(config_dir)
    env["CRIMPL_KERNEL_TEST_PANIC_ON"] = "execute_request"
    k = Kernel(workdir, env)
    try:
        result = k.execute("%crimpl help")
        assert result.reply["status"] == "error" and result.reply["ename"] == "InternalError"
        assert any(m["msg_type"] == "error" for m in result.outputs)
        assert k.alive()
    finally:
        k.shutdown()


def test_a_panic_on_control_is_an_error_reply(workdir, config_dir):
    env = kernel_env(config_dir)
    env["CRIMPL_KERNEL_TEST_PANIC_ON"] = "interrupt_request"
    k = Kernel(workdir, env)
    try:
        msg = k.kc.session.msg("interrupt_request", {})
        k.kc.control_channel.send(msg)
        reply = k.kc.get_control_msg(timeout=10)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "InternalError"
        k.kc.control_channel.send(k.kc.session.msg("kernel_info_request", {}))
        assert k.kc.get_control_msg(timeout=10)["msg_type"] == "kernel_info_reply"
        assert k.alive()
    finally:
        k.shutdown()


@pytest.fixture
def stranger():
    """An unrelated process of ours, standing in for one that took a job's old pid."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def test_kill_never_signals_a_process_that_took_a_finished_jobs_pid(local_kernel, server_dir, stranger):
    assert local_kernel.execute("%%crimpl submit --job done --wait\necho ok\n").ok
    (job_dir(server_dir, "done") / "crimpl-job.pid").write_text(f"{stranger.pid}\n")
    result = local_kernel.execute("%crimpl kill done")
    assert result.ok, result.error
    assert "no signal was sent" in result.text
    assert stranger.poll() is None, "kill signalled a process that is not the job"
    assert "complete" in local_kernel.execute("%crimpl status done").text


def test_a_vanished_job_whose_pid_was_reused_is_lost(local_kernel, server_dir, stranger):
    assert local_kernel.execute("%%crimpl submit --job crash\nsleep 300\n").ok
    pid = job_pid(server_dir, "crash")
    os.killpg(pid, 9)  # the machine "crashed": no end was written
    d = job_dir(server_dir, "crash")
    (d / "crimpl-job.status").write_text("running\n")
    (d / "crimpl-job.pid").write_text(f"{stranger.pid}\n")  # ...and the pid was reused
    assert "lost" in local_kernel.execute("%crimpl status crash").text
    result = local_kernel.execute("%crimpl kill crash")
    assert result.ok, result.error
    assert "no signal was sent" in result.text
    assert stranger.poll() is None


@pytest.mark.parametrize("content", ["1", "0", "-1", "abc", ""])
def test_implausible_pid_files_are_ignored(local_kernel, server_dir, content):
    assert local_kernel.execute("%%crimpl submit --job odd\nsleep 300\n").ok
    pid = job_pid(server_dir, "odd")
    pid_file = job_dir(server_dir, "odd") / "crimpl-job.pid"
    try:
        pid_file.write_text(content + "\n")
        status = local_kernel.execute("%crimpl status odd")
        assert status.ok and "lost" not in status.text
    finally:
        pid_file.write_text(f"{pid}\n")
        os.killpg(pid, 9)


def test_a_running_job_is_killed_and_only_it(local_kernel, server_dir, stranger):
    assert local_kernel.execute("%%crimpl submit --job nap\nsleep 300\n").ok
    pid = job_pid(server_dir, "nap")
    result = local_kernel.execute("%crimpl kill nap")
    assert result.ok and "canceled" in result.text
    assert not process_alive(pid)
    assert stranger.poll() is None


def test_two_runs_at_once_never_run_each_others_script(workdir, config_dir, server_dir):
    kernels = [Kernel(workdir, kernel_env(config_dir)) for _ in range(2)]
    try:
        for k in kernels:
            assert k.execute(f"%crimpl server new local s --directory {server_dir} --replace").ok
        results = {}

        def run(index: int) -> None:
            results[index] = kernels[index].execute(f"%%crimpl run\nsleep 1\necho I am {index}\n")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for index in range(2):
            assert results[index].ok, results[index].error
            assert f"I am {index}" in results[index].text
            assert f"I am {1 - index}" not in results[index].text
        assert not list(server_dir.glob("crimpl_run_script*")), "run scripts were left behind"
    finally:
        for k in kernels:
            k.shutdown()


def test_kernels_submitting_unnamed_jobs_at_once_never_collide(workdir, config_dir, server_dir):
    """Four kernels, 25 unnamed submits each, at the same time: 100 jobs, each
    with a name of its own (the second's timestamp, then a random suffix)."""
    kernels = [Kernel(workdir, kernel_env(config_dir)) for _ in range(4)]
    try:
        for k in kernels:
            assert k.execute(f"%crimpl server new local s --directory {server_dir} --replace").ok
        failures = []

        def submit(kernel: Kernel) -> None:
            for _ in range(25):
                result = kernel.execute("%%crimpl submit\ntrue\n")
                if not result.ok:
                    failures.append(result.error)

        threads = [threading.Thread(target=submit, args=(k,)) for k in kernels]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        names = [path.name.removeprefix("crimpl-job-") for path in server_dir.glob("crimpl-job-*")]
        assert len(names) == 100, names
        assert all(re.fullmatch(r"\d{4}\.\d\d\.\d\d-\d\d\.\d\d\.\d\d(-[0-9a-f]{4})?", n) for n in names), names
        for k in kernels:
            assert k.execute("%crimpl unwatch --all").ok
    finally:
        for k in kernels:
            k.shutdown()


def test_fetch_reports_files_it_could_not_write(local_kernel, workdir):
    assert local_kernel.execute("%%crimpl submit --job w --wait\nmkdir sub && echo x > sub/x.txt && echo y > y.txt\n").ok
    (workdir / "sub").write_text("a file where the job has a directory\n")
    result = local_kernel.execute("%crimpl fetch w")
    assert result.reply["status"] == "error"
    assert "FAILED" in result.text and "sub/x.txt" in result.text
    assert "kept yours" not in result.text
    assert (workdir / "y.txt").read_text() == "y\n"
    assert (workdir / "sub").read_text().startswith("a file")


def test_fetch_modes_and_hidden_files(local_kernel, workdir):
    script = (
        "%%crimpl submit --job m --wait\n"
        "echo data > out.txt && chmod 600 out.txt\n"
        "printf '#!/bin/sh\\n' > tool.sh && chmod 700 tool.sh\n"
        "mkdir -p .cache r/.git && echo c > .cache/c && echo g > r/.git/HEAD && echo r > r/a\n"
    )
    assert local_kernel.execute(script).ok
    result = local_kernel.execute("%crimpl fetch m")
    assert result.ok, result.error
    umask = os.umask(0o022)
    os.umask(umask)
    assert (workdir / "out.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (workdir / "tool.sh").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (workdir / "r" / "a").exists()
    assert not (workdir / ".cache").exists() and not (workdir / "r" / ".git").exists()
    assert "2 hidden" in result.text and "--hidden" in result.text
    assert local_kernel.execute("%crimpl fetch m .cache").ok
    assert (workdir / ".cache" / "c").read_text() == "c\n"
    assert local_kernel.execute("%crimpl fetch m --hidden").ok
    assert (workdir / "r" / ".git" / "HEAD").read_text() == "g\n"


def test_ls_of_a_huge_job_shows_a_summary_and_the_first_rows(local_kernel):
    assert local_kernel.execute(
        "%%crimpl submit --job many --wait\nmkdir d && cd d && seq -f 'f%05g' 3000 | xargs touch\n"
    ).ok
    result = local_kernel.execute("%crimpl ls many")
    assert result.ok, result.error
    assert "the first 1000 of" in result.text
    assert "more" in result.text
    assert len(result.text) < 400_000


def test_a_big_log_comes_back_whole_in_pieces(local_kernel):
    # 10 MiB of multi-byte characters: several pieces, no character broken.
    assert local_kernel.execute(
        "%%crimpl submit --job big --wait\n"
        "yes '✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓✓' | head -n 55000\n",
        timeout=120,
    ).ok
    result = local_kernel.execute("%crimpl log big", timeout=120)
    assert result.ok, result.error
    text = "".join(m["content"]["text"] for m in result.outputs if m["msg_type"] == "stream")
    assert "\ufffd" not in text
    assert text.count("✓") == 55000 * 62
    tail = local_kernel.execute("%crimpl log big --tail 2")
    assert tail.text.count("\n") == 2 and tail.text.count("✓") == 2 * 62


def test_a_client_that_stops_reading_iopub_holds_up_no_other(local_kernel):
    # A second client subscribes to iopub and never reads: its socket buffers
    # are tiny, so it stops taking messages after a few of them.
    info = local_kernel.km.get_connection_info()
    stalled = zmq.Context.instance().socket(zmq.SUB)
    stalled.setsockopt(zmq.RCVHWM, 1)
    stalled.setsockopt(zmq.RCVBUF, 4096)
    stalled.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
    stalled.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        assert stalled.poll(10_000), "the stalled client was never welcomed"
        flood = "%%crimpl run\nyes {} | head -n {}\n"
        # Far more output than the stalled client's buffers hold: once its
        # queue stays full, the kernel stops waiting for it. (While it waited,
        # output past the backlog may be dropped, with a note.)
        first = local_kernel.execute(flood.format("y" * 99, 200_000), timeout=120)
        assert first.ok, first.error
        # From then on the reading client gets every line, and every status.
        lines = 400_000
        result = local_kernel.execute(flood.format("x" * 99, lines), timeout=120)
        assert result.ok, result.error
        text = "".join(m["content"]["text"] for m in result.outputs if m["msg_type"] == "stream")
        assert text.count("x" * 99 + "\n") == lines, "the reading client lost output"
        assert "dropped" not in text
        after = local_kernel.execute("%%crimpl run\necho after the flood\n", timeout=60)
        assert after.ok and "after the flood" in after.text
        peak = peak_rss_bytes(local_kernel.km.provisioner.process.pid)
        assert peak < 512 << 20, f"the kernel held {peak >> 20} MiB for a stalled client"
    finally:
        stalled.close(linger=0)
    assert local_kernel.alive()


def peak_rss_bytes(pid: int) -> int:
    """The peak resident memory of process `pid` (VmHWM)."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")
