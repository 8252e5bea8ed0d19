"""The job cycle, written once and run against every server kind: local, ssh
(a real sshd), slurm (a real single-node Slurm behind sshd) and aws (moto,
with sshd standing in for the instances). Kind-specific behaviour is tested
in each kind's own file."""
from __future__ import annotations

import re
import shlex

import pytest

from harness import backends
from kernel_helpers import Kernel, kernel_env, wait_for

#: Slurm schedules and AWS launches an instance per job: cells may take a while.
CELL_TIMEOUT = 240
SERVER = "target"


@pytest.fixture(
    scope="module",
    params=[
        "local",
        pytest.param("ssh", marks=pytest.mark.system),
        pytest.param("slurm", marks=pytest.mark.system),
        pytest.param("aws", marks=pytest.mark.system),
    ],
)
def backend(request, tmp_path_factory):
    with backends.STARTERS[request.param](tmp_path_factory.mktemp(request.param)) as started:
        yield started


@pytest.fixture
def cycle_kernel(backend, workdir, config_dir, server_dir):
    """A kernel with server `target` of the backend's kind, in use."""
    env = kernel_env(config_dir)
    env.update(backend.env)
    kernel = Kernel(workdir, env)
    result = kernel.execute(f"{backend.new_server(SERVER, server_dir)}\n%crimpl server use {SERVER}")
    assert result.ok, result.error
    yield kernel
    cleanup = backend.cleanup(SERVER)
    outcome = kernel.execute(cleanup, timeout=CELL_TIMEOUT) if cleanup else None
    kernel.shutdown()
    assert outcome is None or outcome.ok, outcome.error


def run(kernel: Kernel, cell: str):
    result = kernel.execute(cell, timeout=CELL_TIMEOUT)
    assert result.ok, f"{cell!r}: {result.error}"
    return result


HOSTILE = ["data file.txt", "quo'te\".txt", "$(touch pwned).txt", "semi;colon.txt", "-dash.txt"]


def test_submit_status_jobs_log_ls_fetch_with_hostile_names(cycle_kernel, backend, workdir):
    setup = run(cycle_kernel, "%%crimpl run\necho \"setting up in $PWD\"\n")
    assert "setting up in /" in setup.text
    for name in HOSTILE:
        (workdir / name).write_text("5\n6\n" if name == "data file.txt" else name)
    files = " ".join(shlex.quote(f"./{name}") for name in HOSTILE)
    submitted = run(
        cycle_kernel,
        f"%%crimpl submit --job cycle --files {files} --wait\n"
        "echo start\n"
        "awk '{ s += $1 } END { print s }' 'data file.txt' > total.txt\n"
        "mkdir -p plots && cp 'quo'\\''te\".txt' 'plots/out quo'\\''te\".txt'\n"
        "echo done\n",
    )
    assert "start" in submitted.text and "done" in submitted.text and "complete" in submitted.text

    assert "complete" in cycle_kernel.execute("%crimpl status cycle").text
    assert "cycle" in cycle_kernel.execute("%crimpl jobs").text
    if backend.reach_files(SERVER):
        run(cycle_kernel, backend.reach_files(SERVER))
    listing = cycle_kernel.execute("%crimpl ls cycle").text
    for name in HOSTILE + ["total.txt", "crimpl-job.status"]:
        assert name in listing, name
    assert "input" in listing and "output" in listing
    assert cycle_kernel.execute("%crimpl log cycle --tail 1").text.strip() == "done"

    for name in HOSTILE:
        (workdir / name).unlink()
    run(cycle_kernel, "%crimpl fetch cycle")
    assert (workdir / "total.txt").read_text() == "11\n"
    assert (workdir / "plots" / "out quo'te\".txt").read_text() == "quo'te\".txt"
    assert not (workdir / "data file.txt").exists()  # inputs are not fetched back
    back = " ".join(shlex.quote(name) for name in HOSTILE)
    run(cycle_kernel, f"%crimpl fetch cycle --to back -- {back}")
    for name in HOSTILE[1:]:
        assert (workdir / "back" / name).read_text() == name
    assert not list(workdir.rglob("pwned"))
    remote = run(cycle_kernel, "%%crimpl run\nls -a crimpl-job-cycle\n").text.splitlines()
    assert "$(touch pwned).txt" in remote and "pwned" not in remote


def test_a_failing_job_reports_its_exit_code(cycle_kernel, backend):
    failed = cycle_kernel.execute("%%crimpl submit --job broken --wait\necho about to fail\nexit 7\n", timeout=CELL_TIMEOUT)
    assert not failed.ok and "failed (exit code 7)" in failed.error, failed.error
    assert "failed" in cycle_kernel.execute("%crimpl status broken").text
    if backend.reach_files(SERVER):
        # On AWS the job's instance is gone; its exit code is on the volume.
        run(cycle_kernel, backend.reach_files(SERVER))
    assert "failed (exit code 7)" in cycle_kernel.execute("%crimpl status broken").text
    assert "about to fail" in cycle_kernel.execute("%crimpl log broken").text
    refused = cycle_kernel.execute("%%crimpl submit --job 'x;rm -rf ~'\necho hi\n")
    assert not refused.ok and "job name" in refused.error


#: A submit option only another kind accepts, for each kind.
FOREIGN_OPTION = {
    "local": ("--walltime 1:00:00", "slurm and aws"),
    "ssh": ("--sbatch=--hold", "slurm"),
    "slurm": ("--instance-type c6i.large", "aws"),
    "aws": ("--partition debug", "slurm"),
}


def test_an_option_of_another_kind_is_a_usage_error(cycle_kernel, backend):
    option, kinds = FOREIGN_OPTION[backend.kind]
    result = cycle_kernel.execute(f"%%crimpl submit --job foreign {option}\necho never\n", timeout=CELL_TIMEOUT)
    assert not result.ok and result.reply["ename"] == "UsageError", result.error
    assert f"applies to {kinds} servers" in result.error and f"is a {backend.kind} server" in result.error
    assert "foreign" not in cycle_kernel.execute("%crimpl jobs").text  # nothing was sent


def test_kill_ends_a_running_job_and_resubmit_runs_one_again(cycle_kernel, backend):
    run(cycle_kernel, "%%crimpl submit --job sleeper\necho running\nsleep 300\n")
    wait_for(cycle_kernel, "sleeper", "running", CELL_TIMEOUT)
    killed = run(cycle_kernel, "%crimpl kill sleeper")
    assert "canceled" in killed.text
    wait_for(cycle_kernel, "sleeper", "canceled", CELL_TIMEOUT)

    run(cycle_kernel, "%%crimpl submit --job again --wait\necho run >> runs.txt\n")
    resubmitted = cycle_kernel.execute("%crimpl resubmit again", timeout=CELL_TIMEOUT)
    if backend.resubmits:
        assert resubmitted.ok, resubmitted.error
        run(cycle_kernel, "%crimpl wait again")
        runs = run(cycle_kernel, "%%crimpl run\ncat crimpl-job-again/runs.txt\n").text
        assert runs.count("run") == 2, runs
    else:
        assert not resubmitted.ok and "submit the cell again" in resubmitted.error
    exists = cycle_kernel.execute("%%crimpl submit --job again\ntrue\n", timeout=CELL_TIMEOUT)
    assert not exists.ok and "exists already" in exists.error
    assert exists.reply["ename"] == "AlreadyExists"


def test_a_new_kernel_reattaches_to_a_job_by_name(cycle_kernel, workdir):
    run(cycle_kernel, "%%crimpl submit --job survivor\nsleep 3\necho survived > s.txt\n")
    cycle_kernel.restart()  # a new kernel process: nothing of the job in memory
    waited = run(cycle_kernel, f"%crimpl wait survivor --server {SERVER}")
    assert "complete" in waited.text
    run(cycle_kernel, f"%crimpl fetch survivor --server {SERVER}")
    assert (workdir / "s.txt").read_text() == "survived\n"


def test_a_sweep_runs_every_task_with_its_parameters_and_reruns_the_failed(cycle_kernel, backend, workdir):
    (workdir / "sweep.csv").write_text("alpha,label\n" + "".join(f"{i / 4},row {i}\n" for i in range(1, 7)))
    (workdir / "base.txt").write_text("base\n")
    cell = (
        "%%crimpl submit --job sweep --params sweep.csv --max-parallel 2 --files ./base.txt\n"
        "if [ \"$CRIMPL_TASK_ID\" = 4 ] && [ ! -f ../retry ]; then exit 3; fi\n"
        "sleep 1\n"
        "printf '%s %s %s|%s\\n' \"$CRIMPL_TASK_ID\" \"$CRIMPL_TASK_COUNT\" \"$alpha\" \"$label\" > out.txt\n"
        "cat base.txt >> out.txt\n"
    )
    run(cycle_kernel, cell)
    # The runner (or Slurm) goes on without the kernel: a new one follows the sweep.
    cycle_kernel.restart()
    run(cycle_kernel, f"%crimpl server use {SERVER}")
    waited = cycle_kernel.execute("%crimpl wait sweep", timeout=CELL_TIMEOUT)
    assert not waited.ok and "ended failed" in waited.error, waited.error
    status = run(cycle_kernel, "%crimpl status sweep --tasks").text
    assert "6/6 tasks ended: 5 complete, 1 failed" in status, status
    assert "task-0004: failed (exit code 3)" in status, status
    assert all(f"task-000{i}" in status for i in range(1, 7)), status

    if backend.reach_files(SERVER):
        run(cycle_kernel, backend.reach_files(SERVER))
    listed = run(cycle_kernel, "%crimpl ls sweep").text
    assert "6 task directories" in listed and "crimpl-array.tasks" in listed, listed
    assert re.search(r"out\.txt\s+5 of 6", listed) and "(no output) task-0004" in listed, listed
    clash = cycle_kernel.execute("%crimpl fetch sweep --merge", timeout=CELL_TIMEOUT)
    assert not clash.ok and 'task-0001 and task-0002 both wrote "out.txt"' in clash.error, clash.error
    run(cycle_kernel, "%crimpl fetch sweep")
    assert (workdir / "task-0002" / "out.txt").read_text() == "2 6 0.5|row 2\nbase\n"
    assert sorted(p.name for p in (workdir / "task-0002").iterdir()) == ["out.txt"]
    assert not (workdir / "task-0004").exists()

    if not backend.resubmits:
        refused = cycle_kernel.execute("%crimpl resubmit sweep --failed", timeout=CELL_TIMEOUT)
        assert not refused.ok and "submit the cell again" in refused.error, refused.error
        return
    run(cycle_kernel, "%%crimpl run\ntouch crimpl-job-sweep/retry\n")
    again = run(cycle_kernel, "%crimpl resubmit sweep --failed")
    assert "Running 1 task(s) of array sweep again" in again.text
    run(cycle_kernel, "%crimpl wait sweep")
    assert "6/6 tasks ended: 6 complete" in run(cycle_kernel, "%crimpl status sweep").text
    run(cycle_kernel, "%crimpl fetch sweep")
    assert (workdir / "task-0004" / "out.txt").read_text() == "4 6 1.0|row 4\nbase\n"
    nothing = cycle_kernel.execute("%crimpl resubmit sweep --failed")
    assert not nothing.ok and "nothing to run again" in nothing.error


def test_a_job_after_a_failed_one_never_runs_and_says_why(cycle_kernel, backend):
    if backend.kind == "aws":
        refused = cycle_kernel.execute("%%crimpl submit --job later --after first\ntrue\n", timeout=CELL_TIMEOUT)
        assert not refused.ok and "--after applies to local, ssh and slurm servers" in refused.error
        return
    run(cycle_kernel, "%%crimpl submit --job first\nsleep 2\nexit 1\n")
    run(cycle_kernel, "%%crimpl submit --job needs --after first\ntouch ran\n")
    run(cycle_kernel, "%%crimpl submit --job anyway --after first:any\ntouch ran\n")
    needs = cycle_kernel.execute("%crimpl wait needs", timeout=CELL_TIMEOUT)
    assert not needs.ok and "canceled" in needs.error, needs.error
    assert "failed" in cycle_kernel.execute("%crimpl status needs").text
    run(cycle_kernel, "%crimpl wait anyway")
    files = run(cycle_kernel, "%%crimpl run\nls crimpl-job-needs crimpl-job-anyway\n").text
    assert files.count("ran") == 1, files
    missing = cycle_kernel.execute("%%crimpl submit --job orphan --after nosuch\ntrue\n")
    assert not missing.ok and missing.reply["ename"] == "NotFound", missing.error
