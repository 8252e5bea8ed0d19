"""Kernel behaviour beyond the conformance suite: Rust output streaming,
evcxr commands, interrupts (message and SIGINT), ipc transport, abort after error."""
from __future__ import annotations

import signal
import time

from jupyter_client.manager import KernelManager

from kernel_helpers import Kernel, kernel_env, wait_for

RUST_TIMEOUT = 300  # the first Rust cell starts evcxr


def test_rust_output_streams_while_the_code_runs(kernel):
    assert kernel.execute("let warm = 1;", timeout=RUST_TIMEOUT).ok
    msg_id = kernel.kc.execute(
        'println!("first"); std::thread::sleep(std::time::Duration::from_secs(2)); println!("second");'
    )
    arrivals = {}
    deadline = time.monotonic() + 60
    while len(arrivals) < 2 and time.monotonic() < deadline:
        msg = kernel.kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            for word in ("first", "second"):
                if word in msg["content"]["text"]:
                    arrivals[word] = time.monotonic()
    assert arrivals["second"] - arrivals["first"] > 1.5


def test_a_cells_stderr_arrives_before_its_idle_every_time(kernel):
    """evcxr reads its child's stderr on a thread of its own: the kernel must
    still forward a cell's last stderr line, even one with no newline, before
    the cell ends (the conformance suite's stderr check once saw none)."""
    assert kernel.execute("let warm = 1;", timeout=RUST_TIMEOUT).ok
    for i in range(12):
        result = kernel.execute(f'eprintln!("line {i}"); eprint!("partial {i}");', timeout=RUST_TIMEOUT)
        assert result.ok, result.reply
        assert f"line {i}\npartial {i}" in result.text, (i, result.text)
        assert "crimpl-stderr" not in result.text, result.text


def test_evcxr_commands_work(kernel):
    assert kernel.execute("let answer = 42;", timeout=RUST_TIMEOUT).ok
    result = kernel.execute(":vars")
    assert result.ok and "answer" in result.text and "i32" in result.text


def test_a_panicking_rust_cell_is_an_error_and_the_next_cell_runs(kernel):
    """evcxr itself reports a panic only on stderr: a notebook run must still stop there."""
    assert kernel.execute("let kept = 5;", timeout=RUST_TIMEOUT).ok
    result = kernel.execute('println!("before"); let n: u32 = "x".parse().unwrap(); println!("{n}");',
                            timeout=RUST_TIMEOUT)
    assert not result.ok and result.reply["ename"] == "Panic", result.reply
    assert "the cell panicked at" in result.error and "ParseIntError" in result.error, result.error
    assert "before" in result.text
    eprinted = kernel.execute('eprintln!("thread \'x\' says panicked at nothing");', timeout=RUST_TIMEOUT)
    assert eprinted.ok, "a line that only looks like a panic's is not one"
    after = kernel.execute("kept + 1", timeout=RUST_TIMEOUT)
    assert after.ok and "6" in after.text


def test_interrupting_rust_code_restarts_evcxr_and_the_kernel_goes_on(kernel):
    assert kernel.execute("let warm = 1;", timeout=RUST_TIMEOUT).ok
    msg_id = kernel.kc.execute('println!("asleep"); std::thread::sleep(std::time::Duration::from_secs(120));')
    kernel.iopub_until(msg_id, lambda m: m["msg_type"] == "stream" and "asleep" in m["content"]["text"], RUST_TIMEOUT)
    kernel.km.interrupt_kernel()
    result = kernel.collect(msg_id, timeout=30)
    assert result.reply["status"] == "error" and result.reply["ename"] == "Interrupted"
    assert "restarted" in "\n".join(result.reply["traceback"])
    after = kernel.execute("1 + 1", timeout=RUST_TIMEOUT)
    assert after.ok and "2" in after.text


def test_sigint_interrupts_a_wait(kernel, server_dir):
    assert kernel.execute(f"%crimpl server new local s --directory {server_dir}").ok
    assert kernel.execute("%%crimpl submit --job nap\nsleep 60\n").ok
    wait_for(kernel, "nap", "running")
    msg_id = kernel.kc.execute("%crimpl wait nap")
    kernel.wait_shown(msg_id)
    kernel.km.signal_kernel(signal.SIGINT)
    result = kernel.collect(msg_id, timeout=20)
    assert result.reply["ename"] == "Interrupted"
    assert "running" in kernel.execute("%crimpl status nap").text
    assert kernel.execute("%crimpl kill nap").ok


def test_queued_cells_after_an_error_are_aborted(local_kernel):
    # The failing cell takes a moment, so the next one is surely queued behind
    # it (as with "Run all"); a cell sent after the error reply runs.
    first = local_kernel.kc.execute("%%crimpl run\nsleep 0.5\nexit 3\n")
    second = local_kernel.kc.execute("%crimpl help")
    assert local_kernel.collect(first).reply["status"] == "error"
    assert local_kernel.collect(second).reply["status"] == "aborted"
    assert local_kernel.execute("%crimpl help").ok


def test_ipc_transport(tmp_path):
    km = KernelManager(kernel_name="crimpl", transport="ipc", ip=str(tmp_path / "kernel-ipc"))
    km.start_kernel(env=kernel_env(tmp_path / "config"), cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        reply = kc.execute_interactive("%crimpl help", timeout=30, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok"
        assert list(tmp_path.glob("kernel-ipc-*"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def test_shutdown_with_restart_request(workdir, config_dir):
    kernel = Kernel(workdir, kernel_env(config_dir))
    pid = kernel.km.provisioner.process.pid
    kernel.kc.shutdown(restart=True)
    reply = kernel.kc.get_control_msg(timeout=10)
    assert reply["msg_type"] == "shutdown_reply" and reply["content"]["restart"] is True
    kernel.km.provisioner.process.wait(timeout=10)
    assert kernel.km.provisioner.process.returncode == 0, pid
    kernel.kc.stop_channels()
    kernel.km.cleanup_resources()
