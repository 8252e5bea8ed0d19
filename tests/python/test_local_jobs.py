"""The job cycle on the local server, driven through the kernel."""
from __future__ import annotations

import hashlib
import os
import pathlib
import shlex
import shutil
import time

from kernel_helpers import Kernel, eventually, kernel_env, wait_for


def process_alive(pid: int) -> bool:
    """Whether pid runs (a zombie left for an init that does not reap is not running)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def job_dir(server_dir: pathlib.Path, job: str) -> pathlib.Path:
    return server_dir / f"crimpl-job-{job}"


def job_pid(server_dir, job: str) -> int:
    """The pid the job's wrapper recorded, once it has (within 5 s)."""
    pid_file = job_dir(server_dir, job) / "crimpl-job.pid"
    for _ in range(50):
        text = pid_file.read_text().strip() if pid_file.exists() else ""
        if text:
            return int(text)
        time.sleep(0.1)
    raise AssertionError(f"job {job} recorded no pid in 5 s")






def test_killed_job_ends_canceled_and_its_processes_are_gone(local_kernel, server_dir):
    assert local_kernel.execute("%%crimpl submit --job long\nsleep 300\n").ok
    pid = job_pid(server_dir, "long")
    result = local_kernel.execute("%crimpl kill long")
    assert result.ok, result.error
    assert "canceled" in result.text
    eventually(lambda: not process_alive(pid), what=f"the end of the job's process {pid}")
    assert "canceled" in local_kernel.execute("%crimpl status long").text


def test_vanished_process_is_lost_not_running(local_kernel, server_dir):
    assert local_kernel.execute("%%crimpl submit --job ghost\nsleep 300\n").ok
    pid = job_pid(server_dir, "ghost")
    os.killpg(pid, 9)  # no trap runs: nothing records an end
    eventually(lambda: not process_alive(pid), what=f"the end of the job's process {pid}")
    assert "lost" in local_kernel.execute("%crimpl status ghost").text


def test_fetch_keeps_a_different_file_unless_overwrite(local_kernel, workdir):
    assert local_kernel.execute("%%crimpl submit --job res --wait\necho new > result.txt\n").ok
    (workdir / "result.txt").write_text("mine\n")
    kept = local_kernel.execute("%crimpl fetch res")
    assert kept.ok and "kept yours" in kept.text
    assert (workdir / "result.txt").read_text() == "mine\n"
    replaced = local_kernel.execute("%crimpl fetch res --overwrite")
    assert replaced.ok and "fetched" in replaced.text
    assert (workdir / "result.txt").read_text() == "new\n"
    into = local_kernel.execute("%crimpl fetch res result.txt --to sub/dir")
    assert (workdir / "sub" / "dir" / "result.txt").read_text() == "new\n", into.text
    escape = local_kernel.execute("%crimpl fetch res ../../etc/passwd")
    assert not escape.ok and "not a path inside the job directory" in escape.error


def test_hostile_job_and_file_names_are_refused_or_handled_safely(local_kernel, workdir, server_dir):
    for name in ["'a b'", "'x;rm -rf ~'", "'$(id)'", "../up", "'`touch pwned`'"]:
        result = local_kernel.execute(f"%%crimpl submit --job {name}\necho hi\n")
        assert not result.ok and "job name" in result.error, name
    assert not (workdir / "pwned").exists()
    hostile = "a b;$(touch pwned)'q\".txt"
    (workdir / hostile).write_text("data\n")
    result = local_kernel.execute(
        f"%%crimpl submit --job files --files {shlex.quote(hostile)} --wait\ncat ./*.txt > copy.out\n"
    )
    assert result.ok, result.error
    assert (job_dir(server_dir, "files") / hostile).read_text() == "data\n"
    assert "input" in local_kernel.execute("%crimpl ls files").text
    assert not (workdir / "pwned").exists() and not (job_dir(server_dir, "files") / "pwned").exists()
    reserved = local_kernel.execute("%%crimpl submit --files crimpl-job.status\necho\n")
    assert not reserved.ok


def test_interrupt_stops_the_wait_not_the_job(local_kernel):
    assert local_kernel.execute("%%crimpl submit --job patient\nsleep 30\n").ok
    wait_for(local_kernel, "patient", "running")
    msg_id = local_kernel.kc.execute("%crimpl wait patient")
    local_kernel.wait_shown(msg_id)
    local_kernel.km.interrupt_kernel()
    result = local_kernel.collect(msg_id, timeout=10)
    assert result.reply["status"] == "error"
    assert result.reply["ename"] == "Interrupted"
    assert "running" in local_kernel.execute("%crimpl status patient").text
    assert local_kernel.execute("%crimpl kill patient").ok


def test_a_wait_on_a_job_deleted_meanwhile_stops_and_says_so(local_kernel, server_dir):
    assert local_kernel.execute("%%crimpl submit --job doomed\nsleep 300\n").ok
    pid = job_pid(server_dir, "doomed")
    msg_id = local_kernel.kc.execute("%crimpl wait doomed")
    local_kernel.wait_shown(msg_id)
    # Deleted behind the kernel's back (another notebook, a shell), then its process ended.
    shutil.rmtree(job_dir(server_dir, "doomed"))
    os.killpg(pid, 9)
    result = local_kernel.collect(msg_id, timeout=30)
    assert result.reply["ename"] == "NotFound", result.reply
    assert "no longer exists" in result.error
    unknown = local_kernel.execute("%crimpl status doomed")
    assert unknown.reply["ename"] == "NotFound" and 'no job "doomed"' in unknown.error


def test_interrupted_run_ends_its_process_group(local_kernel, server_dir):
    msg_id = local_kernel.kc.execute("%%crimpl run\necho $$ > run.pid\nsleep 600 &\necho $! > sleep.pid\nwait\n")
    for _ in range(100):
        if (server_dir / "sleep.pid").exists() and (server_dir / "sleep.pid").read_text().strip():
            break
        time.sleep(0.1)
    local_kernel.km.interrupt_kernel()
    result = local_kernel.collect(msg_id, timeout=30)
    assert result.reply["ename"] == "Interrupted", result.error
    assert "stopped the script" in result.error, result.error
    for name in ("run.pid", "sleep.pid"):
        assert not process_alive(int((server_dir / name).read_text())), name
    assert not list(server_dir.glob("crimpl_run_script.*"))
    assert local_kernel.execute("%%crimpl run\necho next\n", timeout=30).ok




def test_submit_display_updates_in_place_until_the_job_ends(local_kernel):
    msg_id = local_kernel.kc.execute("%%crimpl submit --job live\nsleep 1\n")
    messages = local_kernel.iopub_until(
        msg_id, lambda m: m["msg_type"] == "update_display_data" and "complete" in m["content"]["data"]["text/plain"]
    )
    displays = [m for m in messages if m["msg_type"] == "display_data"]
    updates = [m for m in messages if m["msg_type"] == "update_display_data"]
    assert len(displays) == 1
    display_id = displays[0]["content"]["transient"]["display_id"]
    assert updates and all(u["content"]["transient"]["display_id"] == display_id for u in updates)
    assert "complete" in updates[-1]["content"]["data"]["text/plain"]


def test_trial_run_sends_nothing(local_kernel, server_dir, workdir):
    (workdir / "data.csv").write_text("x\n")
    result = local_kernel.execute("%%crimpl submit --job dry --files data.csv --trial-run\necho hi\n")
    assert result.ok, result.error
    assert "nothing was sent" in result.text and "data.csv" in result.text and "echo hi" in result.text
    # The manifest it would write, with the input's hash.
    assert "crimpl-job.json" in result.text and hashlib.sha256(b"x\n").hexdigest() in result.text
    assert not job_dir(server_dir, "dry").exists()


def test_run_streams_output_and_fails_on_nonzero_exit(local_kernel):
    result = local_kernel.execute("%%crimpl run\necho one; echo two >&2\n")
    assert result.ok and "one" in result.text and "two" in result.text
    failed = local_kernel.execute("%%crimpl run\nexit 4\n")
    assert not failed.ok and "exited with code 4" in failed.error




def test_variables_expand_in_magic_lines(workdir, config_dir, server_dir):
    env = kernel_env(config_dir)
    env["JOBNAME"] = "from-env"
    kernel = Kernel(workdir, env)
    try:
        assert kernel.execute(f"%crimpl server new local loc --directory {server_dir}").ok
        # The magic line is expanded by the kernel; the body is the remote shell's.
        result = kernel.execute("%%crimpl submit --job ${JOBNAME} --wait\necho \"[$JOBNAME]\"\n")
        assert result.ok, result.error
        assert "from-env" in kernel.execute("%crimpl jobs").text
        script = (job_dir(server_dir, "from-env") / "crimpl_submit_script.sh").read_text()
        assert script == 'echo "[$JOBNAME]"\n'  # sent as written
        assert "[from-env]" in result.text  # expanded by the job's own shell
    finally:
        kernel.shutdown()


def test_crimpl_020_job_directory_is_listed_and_read(local_kernel, server_dir):
    # The layout crimpl 0.2.0 (Python) leaves: its own status words, a
    # space-separated input list, a nohup pid file, no wrapper of ours.
    old = job_dir(server_dir, "2021.06.01-10.00.00")
    old.mkdir(parents=True)
    (old / "crimpl_submit_script.sh").write_text("echo 'starting' > crimpl-job.status\necho 'running' > crimpl-job.status\npython3 fit.py\necho 'complete' > crimpl-job.status\n")
    (old / "crimpl-job.status").write_text("complete\n")
    (old / "crimpl-input-files.list").write_text("fit.py data.txt\n")
    (old / "crimpl-nohup.pid").write_text("999999\n")
    for name in ["fit.py", "data.txt", "result.dat"]:
        (old / name).write_text(name)
    killed = job_dir(server_dir, "2021.06.02-10.00.00")
    killed.mkdir()
    (killed / "crimpl-job.status").write_text("killed\n")
    stale = job_dir(server_dir, "2021.06.03-10.00.00")
    stale.mkdir()
    (stale / "crimpl-job.status").write_text("running\n")
    (stale / "crimpl-nohup.pid").write_text("999999\n")
    listing = local_kernel.execute("%crimpl jobs").text
    lines = {line.split()[0]: line for line in listing.splitlines() if line.startswith("2021")}
    assert "complete" in lines["2021.06.01-10.00.00"]
    assert "canceled" in lines["2021.06.02-10.00.00"]
    assert "lost" in lines["2021.06.03-10.00.00"]
    files = local_kernel.execute("%crimpl ls 2021.06.01-10.00.00").text
    roles = {line.split()[0]: line.split()[-1] for line in files.splitlines()[2:] if line.strip()}
    assert roles["fit.py"] == "input" and roles["data.txt"] == "input"
    assert roles["result.dat"] == "output" and roles["crimpl_submit_script.sh"] == "crimpl"


def test_the_same_cell_reattaches_a_changed_one_is_refused_and_fetch_checks_the_manifest(
        local_kernel, server_dir, workdir):
    cell = "%%crimpl submit --job prov --wait\necho 7 > seven.txt\n"
    assert local_kernel.execute(cell).ok
    again = local_kernel.execute(cell)
    assert again.ok and "reused as it is" in again.text, again.text
    changed = local_kernel.execute("%%crimpl submit --job prov\necho 8 > seven.txt\n")
    assert changed.reply["ename"] == "AlreadyExists" and "the script: 2 lines differ" in changed.error

    shown = local_kernel.execute("%crimpl status prov --manifest")
    assert shown.ok, shown.error
    sha = hashlib.sha256(b"7\n").hexdigest()
    assert "Manifest of job prov" in shown.text and f"seven.txt (2 B, sha256 {sha})" in shown.text, shown.text

    fetched = local_kernel.execute("%crimpl fetch prov --to here")
    assert fetched.ok and "1 file(s) match" in fetched.text, fetched.error
    assert f'"sha256": "{sha}"' in (workdir / "here" / ".crimpl" / "prov.json").read_text()
    # Changed on the server after the job ended: the fetch says so, and fails.
    (job_dir(server_dir, "prov") / "seven.txt").write_text("tampered\n")
    refetched = local_kernel.execute("%crimpl fetch prov --to elsewhere")
    assert not refetched.ok and "differ from what the job made" in refetched.error, refetched.error
    assert "FAILED, differs from the job's manifest" in refetched.text

    replaced = local_kernel.execute("%%crimpl submit --job prov --replace --wait\necho 8 > eight.txt\n")
    assert replaced.ok and "Replaced job prov" in replaced.text and "seven.txt" in replaced.text, replaced.text
    assert not (job_dir(server_dir, "prov") / "seven.txt").exists()
