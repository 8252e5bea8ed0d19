"""Outputs a notebook can keep (issue 15): job displays that end right in a
saved notebook, stdin for Rust cells, batched streams in order, UTF-8 across
chunks, Rust errors at the cell's own lines, inspect."""
from __future__ import annotations

import re

import nbformat
from nbclient import NotebookClient

from kernel_helpers import kernel_env

RUST_TIMEOUT = 300  # the first Rust cell starts evcxr


def saved_text(cell) -> str:
    """What a saved cell shows, as plain text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def run_notebook(cells: list[str], workdir, config_dir) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="crimpl",
        resources={"metadata": {"path": str(workdir)}},
    )
    # The kernel gets its own registry, as in every other test.
    client.execute(env=kernel_env(config_dir), cwd=str(workdir))
    return notebook


def test_saved_submit_cell_shows_the_final_status(workdir, config_dir, server_dir):
    notebook = run_notebook(
        [
            f"%crimpl server new local loc --directory {server_dir}\n%crimpl server use loc",
            "%%crimpl submit --job quick\nsleep 2\necho done\n",
            "%crimpl wait quick",
            "%crimpl status quick",
            "%%crimpl submit --job endless\nsleep 600\n",
        ],
        workdir,
        config_dir,
    )
    submitted, waited, status, endless = (saved_text(c) for c in notebook.cells[1:])
    for text in (submitted, waited, status):
        assert "complete" in text, text
        assert "updating live" not in text and "checked at" not in text, text
    # Still running when the notebook ended: the note says when it was checked, not "live".
    assert re.search(r"(starting|running)", endless), endless
    assert "checked at" in endless and "updating live" not in endless, endless


def test_unwatch_stops_the_watchers_and_says_so(local_kernel):
    assert local_kernel.execute("%%crimpl submit --job forever\nsleep 600\n").ok
    result = local_kernel.execute("%crimpl unwatch --all")
    assert result.ok, result.error
    assert "forever" in result.text
    notes = [m["content"]["data"]["text/plain"] for m in result.outputs if m["msg_type"] == "update_display_data"]
    assert notes and "stopped by %crimpl unwatch" in notes[-1]
    assert "No job was being watched" in local_kernel.execute("%crimpl unwatch --all").text
    assert local_kernel.execute("%crimpl kill forever").ok


def test_a_deleted_job_ends_its_watcher_and_its_display_says_why(local_kernel, server_dir):
    import os
    import shutil
    import signal
    import time

    assert local_kernel.execute("%%crimpl submit --job doomed\nsleep 600\n").ok
    job_dir = server_dir / "crimpl-job-doomed"
    pid_file = job_dir / "crimpl-job.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = int(pid_file.read_text().strip())
    try:
        shutil.rmtree(job_dir)
        # Updates made between cells arrive with the next cell.
        notes = ""
        while "no longer exists" not in notes and time.monotonic() < deadline + 30:
            time.sleep(0.5)
            result = local_kernel.execute("%crimpl server list")
            notes += "\n".join(
                m["content"]["data"]["text/plain"] for m in result.outputs if m["msg_type"] == "update_display_data"
            )
        assert "no longer exists" in notes and "not updated any more" in notes, notes
        assert "No job was being watched" in local_kernel.execute("%crimpl unwatch --all").text
    finally:
        os.killpg(pid, signal.SIGKILL)


def test_rust_stdin_is_answered_through_input_request(kernel):
    assert kernel.execute("let warm = 1;", timeout=RUST_TIMEOUT).ok
    msg_id = kernel.kc.execute(
        'let mut line = String::new();\nstd::io::stdin().read_line(&mut line).unwrap();\nprintln!("got [{}]", line.trim());',
        allow_stdin=True,
    )
    request = kernel.kc.get_stdin_msg(timeout=RUST_TIMEOUT)
    assert request["msg_type"] == "input_request"
    assert request["parent_header"]["msg_id"] == msg_id
    assert request["content"]["password"] is False
    kernel.kc.input("hello there")
    result = kernel.collect(msg_id, timeout=RUST_TIMEOUT)
    assert result.ok, result.error
    assert "got [hello there]" in result.text
    # The evaluator kept its state: the next cell sees earlier variables.
    assert kernel.execute("warm + 1", timeout=RUST_TIMEOUT).text.strip() == "2"


def test_rust_stdin_without_a_frontend_that_answers_fails_at_once(kernel):
    assert kernel.execute("let warm = 1;", timeout=RUST_TIMEOUT).ok
    msg_id = kernel.kc.execute(
        "let mut line = String::new();\nstd::io::stdin().read_line(&mut line).unwrap();",
        allow_stdin=False,
    )
    result = kernel.collect(msg_id, timeout=RUST_TIMEOUT)
    assert result.reply["status"] == "error"
    assert result.reply["ename"] == "StdinNotAllowed"
    assert "allow_stdin" in result.reply["evalue"] + "\n".join(result.reply["traceback"])
    assert kernel.execute("1 + 1", timeout=RUST_TIMEOUT).ok


def test_many_printed_lines_come_in_few_messages_in_order(kernel):
    assert kernel.execute("let warm = 1;", timeout=RUST_TIMEOUT).ok
    result = kernel.execute('for i in 0..5000 { println!("line {i}"); }', timeout=RUST_TIMEOUT)
    assert result.ok, result.error
    streams = [m for m in result.outputs if m["msg_type"] == "stream"]
    text = "".join(m["content"]["text"] for m in streams if m["content"]["name"] == "stdout")
    assert text == "".join(f"line {i}\n" for i in range(5000))
    assert len(streams) <= 50, len(streams)


def test_magic_output_is_batched_too(local_kernel):
    result = local_kernel.execute("%%crimpl run\nseq 1 20000\n")
    assert result.ok, result.error
    streams = [m for m in result.outputs if m["msg_type"] == "stream"]
    assert "".join(m["content"]["text"] for m in streams) == "".join(f"{i}\n" for i in range(1, 20001))
    assert len(streams) <= 50, len(streams)


def test_multibyte_output_comes_back_intact(local_kernel):
    script = "python3 -c \"import sys; sys.stdout.write('\\u2713' * 10000)\"\n"
    run = local_kernel.execute("%%crimpl run\n" + script)
    assert run.ok, run.error
    assert run.text.strip() == "✓" * 10000
    assert local_kernel.execute("%%crimpl submit --job checks --wait\n" + script).ok
    log = local_kernel.execute("%crimpl log checks")
    assert log.ok, log.error
    assert "✓" * 10000 in log.text and "\ufffd" not in log.text


def test_compile_errors_name_the_cells_own_line(kernel):
    result = kernel.execute('let x: i32 = "text";', timeout=RUST_TIMEOUT)
    assert result.reply["status"] == "error"
    traceback = "\n".join(result.reply["traceback"])
    plain = re.sub(r"\x1b\[[0-9;]*m", "", traceback)
    assert "cell:1:" in plain, plain
    assert "src/lib.rs" not in plain
    lines = plain.splitlines()
    source = next(i for i, line in enumerate(lines) if 'let x: i32 = "text";' in line)
    # The span is marked on the line under the cell's own line.
    assert "┬" in lines[source + 1] or "^" in lines[source + 1], plain
    assert "\x1b[" in traceback  # coloured like terminal output


def test_inspect_is_found_false_for_nothing_and_html_as_html(kernel):
    assert kernel.execute("let answer: u64 = 42;", timeout=RUST_TIMEOUT).ok
    kernel.kc.inspect("zzz_nothing_here", cursor_pos=len("zzz_nothing_here"))
    reply = kernel.kc.get_shell_msg(timeout=RUST_TIMEOUT)["content"]
    assert reply["status"] == "ok" and reply["found"] is False and reply["data"] == {}
    kernel.kc.inspect("answer", cursor_pos=len("answer"))
    reply = kernel.kc.get_shell_msg(timeout=RUST_TIMEOUT)["content"]
    assert reply["found"] is True
    assert "u64" in reply["data"]["text/plain"]
    assert "<" not in reply["data"]["text/plain"]
    assert "<" in reply["data"]["text/html"]
