"""The Slurm server against a real single-node Slurm, reached through the test sshd."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time
import uuid

import pytest

from harness import processes
from harness.slurm import Slurm
from harness.sshd import Sshd
from kernel_helpers import Kernel, kernel_env, wait_for

DIRECTORY = "crimpl-slurm-tests"
pytestmark = pytest.mark.system  # a test user, sshd, munged and Slurm as root


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = Slurm()
    try:
        # sbatch, squeue, scancel run as the test user over ssh: SLURM_CONF names
        # the cluster's configuration, which names its munged socket.
        # The logging squeue comes first on PATH, so tests can count the calls.
        path = f"{slurm.bin}:/usr/local/bin:/usr/bin:/bin"
        sshd = Sshd(tmp_path_factory.mktemp("sshd-slurm"),
                    extra_config=f"SetEnv SLURM_CONF={slurm.conf} PATH={path}\n")
    except BaseException:
        slurm.stop()
        raise
    try:
        yield slurm, sshd
    finally:
        slurm.stop()
        sshd.stop()
        sshd.cleanup_user(DIRECTORY, "crimpl-slurm-demo")


@pytest.fixture
def slurm_kernel(cluster, workdir, config_dir):
    _, sshd = cluster
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    directory = f"~/{DIRECTORY}/{uuid.uuid4().hex[:8]}"
    result = kernel.execute(
        f"%crimpl server new slurm cluster --host {sshd.host_alias} --directory {directory}\n%crimpl server use cluster"
    )
    assert result.ok, result.error
    yield kernel
    kernel.shutdown()


def test_a_multi_task_job_completes(slurm_kernel):
    result = slurm_kernel.execute(
        "%%crimpl submit --job ok --ntasks 2 --wait\necho \"tasks=$SLURM_NTASKS job=$SLURM_JOB_NAME\"\necho 42 > answer.txt\n",
        timeout=90,
    )
    assert result.ok, result.error
    assert "tasks=2 job=crimpl-ok" in result.text
    status = slurm_kernel.execute("%crimpl status ok").text
    assert "complete" in status and "slurm id" in status
    assert slurm_kernel.execute("%crimpl fetch ok answer.txt").ok
    assert (slurm_kernel.cwd / "answer.txt").read_text() == "42\n"




def test_a_running_job_is_canceled_with_scancel(slurm_kernel, cluster):
    slurm, _ = cluster
    assert slurm_kernel.execute("%%crimpl submit --job long\nsleep 300\n").ok
    wait_for(slurm_kernel, "long", "running")
    killed = slurm_kernel.execute("%crimpl kill long")
    assert killed.ok and "canceled" in killed.text, killed.error
    time.sleep(1)
    assert "canceled" in slurm_kernel.execute("%crimpl status long").text
    assert "crimpl-long" not in slurm.run("squeue", "--noheader", "--format=%j")


def test_a_held_job_is_pending_with_its_reason_and_can_be_canceled(slurm_kernel):
    assert slurm_kernel.execute("%%crimpl submit --job held --sbatch=--hold\necho never\n").ok
    status = wait_for(slurm_kernel, "held", "pending")
    assert "JobHeldUser" in status
    assert "canceled" in slurm_kernel.execute("%crimpl kill held").text


def test_extra_sbatch_options_reach_the_job(slurm_kernel):
    result = slurm_kernel.execute(
        "%%crimpl submit --job extra --wait --walltime 0:05:00 --partition debug "
        "--sbatch=--export=ALL,CRIMPL_EXTRA=forty-two --sbatch=--comment=from-crimpl\n"
        "echo \"extra=$CRIMPL_EXTRA\"\nscontrol show job $SLURM_JOB_ID | grep -o 'Comment=[^ ]*\\|TimeLimit=[^ ]*'\n",
        timeout=90,
    )
    assert result.ok, result.error
    assert "extra=forty-two" in result.text
    assert "Comment=from-crimpl" in result.text and "TimeLimit=00:05:00" in result.text
    script = slurm_kernel.execute("%%crimpl run\ncat crimpl-job-extra/crimpl-slurm-batch.sh\n").text
    assert "#SBATCH --partition=debug" in script and "#SBATCH --export=ALL,CRIMPL_EXTRA=forty-two" in script


def test_all_statuses_in_one_command_and_resubmit(slurm_kernel, cluster):
    _, sshd = cluster
    assert slurm_kernel.execute("%%crimpl submit --job twice --wait\necho run >> runs.txt\n", timeout=90).ok
    before = sshd.sessions_started()
    listing = slurm_kernel.execute("%crimpl jobs")
    assert listing.ok and "twice" in listing.text
    assert sshd.sessions_started() - before == 1
    assert slurm_kernel.execute("%crimpl resubmit twice").ok
    assert slurm_kernel.execute("%crimpl wait twice", timeout=90).ok
    runs = slurm_kernel.execute("%%crimpl run\ncat crimpl-job-twice/runs.txt\n").text
    assert runs.count("run") == 2


def test_run_uses_the_login_node(slurm_kernel):
    result = slurm_kernel.execute("%%crimpl run\necho \"login node, no job id: [${SLURM_JOB_ID:-}]\"\n")
    assert result.ok and "no job id: []" in result.text


def test_slurm_notebook_runs_under_nbclient(cluster, tmp_path):
    from test_notebooks import outputs_text, run_again_unchanged, run_notebook

    _, sshd = cluster
    env = kernel_env(tmp_path / "config", home=sshd.home)
    env["CRIMPL_SLURM_HOST"] = sshd.host_alias
    notebook = run_notebook("slurm.ipynb", tmp_path / "out", env)
    joined = "\n".join(outputs_text(notebook))
    assert "task 0" in joined and "task 1" in joined
    assert (tmp_path / "out" / "slurm-results").is_dir()
    assert "8/8 tasks ended: 8 complete" in joined and "sum of squares: 204" in joined
    # Again: the held job (canceled by the notebook) is held and canceled again, nothing else runs.
    run_again_unchanged("slurm.ipynb", tmp_path / "out", env, pathlib.Path(sshd.user.pw_dir) / "crimpl-slurm-demo")


def test_stopping_a_cluster_ends_its_job_steps_and_spares_everything_else(tmp_path):
    """Processes named like Slurm's and munge's daemons, but not started by the
    cluster (as on a login node), survive it; its own job steps do not."""
    names = ("munged", "slurmctld", "slurmd", "slurmstepd")
    (tmp_path / "bin").mkdir()
    others = []
    for name in names:
        shutil.copy("/bin/sleep", tmp_path / "bin" / name)
        others.append(subprocess.Popen([str(tmp_path / "bin" / name), "300"]))
    try:
        slurm = Slurm()
        try:
            slurm.run("sbatch", f"--chdir={tmp_path}", "--output=/dev/null", "--job-name=step", "--wrap", "sleep 300")
            deadline = time.monotonic() + 30
            while "R" not in slurm.run("squeue", "--noheader", "--format=%t") and time.monotonic() < deadline:
                time.sleep(0.2)
            # The job's slurmstepd detached from slurmd: neither a daemon nor a descendant of one.
            daemons = {process.pid for process in slurm.processes}
            daemons.update(child for pid in list(daemons) for child in processes.descendants(pid))
            steps = [processes.read(pid) for pid in slurm.own_processes(exclude=list(daemons))]
            assert [p for p in steps if p is not None], "no job step (slurmstepd) found"
        finally:
            slurm.stop()
        assert [p.pid for p in steps if p is not None and processes.alive(p)] == [], "a job step outlived the cluster"
        assert processes.holding(slurm.base) == []
        assert [name for name, other in zip(names, others) if other.poll() is not None] == []
    finally:
        for other in others:
            other.kill()
            other.wait()


def slurm_id(kernel, job: str) -> str:
    # The cell's text may hold status display updates of watched jobs too: the id is the last line.
    return kernel.execute(f"%%crimpl run\ncat crimpl-job-{job}/crimpl-slurm.id\n").text.strip().splitlines()[-1]


def test_nprocs_means_cpus_for_one_run_and_no_time_is_asked(slurm_kernel):
    """No --walltime: the job runs in a partition whose MaxTime is one minute
    (a default of days would leave it pending for ever)."""
    result = slurm_kernel.execute(
        "%%crimpl submit --job short --nprocs 2 --partition short --wait\n"
        "echo \"tasks=$SLURM_NTASKS cpus=$SLURM_CPUS_PER_TASK\"\n",
        timeout=90,
    )
    assert result.ok, result.error
    assert "tasks=1 cpus=2" in result.text


def test_a_pasted_batch_script_keeps_its_sbatch_lines(slurm_kernel):
    result = slurm_kernel.execute(
        '%%crimpl submit --job pasted --wait --sbatch="--comment=two words"\n'
        "#!/bin/bash\n#SBATCH --job-name=my-analysis\n#SBATCH --mem=100M   # enough\n"
        "scontrol show job $SLURM_JOB_ID\n",
        timeout=90,
    )
    assert result.ok, result.error
    for expected in ("JobName=my-analysis", "MinMemoryNode=100M", "Comment=two words"):
        assert expected in result.text, result.text
    refused = slurm_kernel.execute("%%crimpl submit --job chdir --sbatch=--chdir=/tmp\necho\n")
    assert not refused.ok and "cannot be used with crimpl" in refused.error
    wrong_kind = slurm_kernel.execute("%%crimpl submit --server local --account proj\necho\n")
    assert not wrong_kind.ok and "--account applies to slurm servers" in wrong_kind.error


def test_a_requeued_job_runs_again_and_wait_follows_it(slurm_kernel, cluster):
    slurm, _ = cluster
    # The first run waits to be requeued (a fixed sleep could end first under load);
    # the second, which Slurm numbers 1, writes its line and ends.
    assert slurm_kernel.execute(
        "%%crimpl submit --job again\n"
        "[ -n \"$SLURM_RESTART_COUNT\" ] || sleep 300\n"
        "echo \"run $SLURM_RESTART_COUNT\" >> runs.txt\n").ok
    wait_for(slurm_kernel, "again", "running")
    ident = slurm_id(slurm_kernel, "again")
    slurm.run("scontrol", "requeue", ident)
    seen = [slurm_kernel.execute("%crimpl status again").text for _ in range(3)]
    # Slurm holds a requeued job back (its credential's lifetime, 121 s here) once the
    # old run has finished completing: only then can its start be moved to now (an
    # earlier update is overwritten by that delay).
    deadline = time.monotonic() + 60
    while slurm.run("squeue", "--noheader", "--jobs", ident, "--format=%T").strip() != "PENDING":
        assert time.monotonic() < deadline, "the requeued job never went back to PENDING"
        time.sleep(0.2)
    slurm.run("scontrol", "update", f"JobId={ident}", "StartTime=now")
    waited = slurm_kernel.execute("%crimpl wait again", timeout=120)
    assert waited.ok, waited.error
    seen.append(slurm_kernel.execute("%crimpl status again").text)
    assert not any("canceled" in text for text in seen), seen
    assert "complete (attempt 2)" in seen[-1], seen[-1]
    runs = slurm_kernel.execute("%%crimpl run\ncat crimpl-job-again/runs.txt\n").text
    assert runs.split() == ["run", "1"], runs


def test_a_time_limit_reads_timeout_after_slurm_forgets_the_job(slurm_kernel, cluster):
    slurm, _ = cluster
    assert slurm_kernel.execute("%%crimpl submit --job overtime --walltime 0:01:00\nsleep 300\n").ok
    waited = slurm_kernel.execute("%crimpl wait overtime", timeout=200)
    assert not waited.ok and "ended timeout" in waited.error, waited.error
    ident = slurm_id(slurm_kernel, "overtime")
    deadline = time.monotonic() + 120
    while ident in slurm.run("squeue", "--all", "--states=all", "--noheader", "--format=%i").split():
        assert time.monotonic() < deadline, "Slurm never forgot the job"
        time.sleep(2)
    assert "timeout" in slurm_kernel.execute("%crimpl status overtime").text
    assert "DUE TO TIME LIMIT" in slurm_kernel.execute("%crimpl log overtime --slurm").text
    assert f"crimpl-slurm-{ident}.out" in slurm_kernel.execute("%crimpl ls overtime").text


def test_a_job_in_a_hidden_partition_is_never_lost(slurm_kernel):
    assert slurm_kernel.execute("%%crimpl submit --job hidden --partition hidden\nsleep 4\n").ok
    seen = []
    deadline = time.monotonic() + 60
    while "complete" not in (seen[-1] if seen else ""):
        assert time.monotonic() < deadline, seen
        seen.append(slurm_kernel.execute("%crimpl status hidden").text)
        time.sleep(0.5)
    assert not any("lost" in text or "unknown" in text for text in seen), seen


def test_watching_twenty_idle_jobs_reads_the_queue_a_handful_of_times(slurm_kernel, cluster):
    slurm, _ = cluster
    for i in range(20):
        assert slurm_kernel.execute(f"%%crimpl submit --job idle-{i} --sbatch=--hold\necho never\n").ok
    before = slurm.squeue_calls()
    time.sleep(60)
    calls = slurm.squeue_calls() - before
    # One squeue per 30 s for all 20 watchers (the floor), plus one of a poll
    # under way; at least one, or nobody was watching.
    assert 1 <= calls <= 4, calls
    assert "JobHeldUser" in slurm_kernel.execute("%crimpl status idle-7").text
    unwatched = slurm_kernel.execute("%crimpl unwatch --all")
    assert unwatched.ok, unwatched.error
    assert all(f"idle-{i}" in unwatched.text for i in range(20)), unwatched.text
    assert "No job was being watched." in slurm_kernel.execute("%crimpl unwatch --all").text
    slurm.cancel_all()


def test_a_login_shell_server_finds_what_the_profile_puts_on_path(slurm_kernel, cluster):
    """A tool on PATH only through a profile.d-like script sourced by the test
    user's ~/.profile (as clusters do with /etc/profile.d and `module`)."""
    _, sshd = cluster
    home = pathlib.Path(sshd.user.pw_dir)
    site = home / "site"
    (site / "bin").mkdir(parents=True)
    (site / "bin" / "site-tool").write_text("#!/bin/sh\necho site tool here\n")
    (site / "profile.d.sh").write_text(f'PATH="{site}/bin:$PATH"; export PATH\n')
    profile = home / ".profile"
    original = profile.read_bytes() if profile.exists() else None
    with open(profile, "a") as out:
        out.write(f". {site}/profile.d.sh\n")
    for path in (site, site / "bin", site / "bin" / "site-tool", site / "profile.d.sh", profile):
        os.chown(path, sshd.user.pw_uid, sshd.user.pw_gid)
    (site / "bin" / "site-tool").chmod(0o755)
    try:
        plain = slurm_kernel.execute("%%crimpl run\nsite-tool\n")
        assert not plain.ok, plain.text
        created = slurm_kernel.execute(
            f"%crimpl server new slurm login --host {sshd.host_alias} --directory ~/{DIRECTORY}/login --login-shell")
        assert created.ok, created.error
        ran = slurm_kernel.execute("%%crimpl run --server login\nsite-tool\n")
        assert ran.ok and "site tool here" in ran.text, ran.error
        job = slurm_kernel.execute("%%crimpl submit --server login --wait\nsite-tool\n", timeout=90)
        assert job.ok and "site tool here" in job.text, job.error
    finally:
        shutil.rmtree(site)
        if original is None:
            profile.unlink()
        else:
            profile.write_bytes(original)


def test_an_array_is_one_sbatch_with_a_slurm_task_per_id(slurm_kernel, cluster):
    slurm, _ = cluster
    assert slurm_kernel.execute(
        "%%crimpl submit --job native --array 1-3,7 --max-parallel 2\n"
        "echo \"$SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $CRIMPL_TASK_ID\" > ids.txt\n",
        timeout=90,
    ).ok
    ident = slurm_id(slurm_kernel, "native")
    assert ident.isdigit(), ident  # one Slurm job id for the whole array
    shown = slurm.run("scontrol", "show", "job", ident)
    assert "ArrayTaskId=" in shown, shown
    waited = slurm_kernel.execute("%crimpl wait native", timeout=120)
    assert waited.ok, waited.error
    ids = slurm_kernel.execute(
        "%%crimpl run\ncat crimpl-job-native/task-*/ids.txt crimpl-job-native/task-0007/crimpl-slurm.id\n").text
    # The cell's text may begin with display updates of the watched array: the ids come last.
    assert ids.split()[-13:] == [ident, "1", "1", ident, "2", "2", ident, "3", "3", ident, "7", "7", f"{ident}_7"], ids
    assert "4/4 tasks ended: 4 complete" in slurm_kernel.execute("%crimpl status native").text


def test_a_sweep_past_max_array_size_is_one_sweep_of_several_slurm_arrays(slurm_kernel, cluster):
    """The test cluster's MaxArraySize is 11 (ids 0-10): 25 tasks are three Slurm arrays."""
    slurm, _ = cluster
    cell = (
        "%%crimpl submit --job big --array 1-25 --max-parallel 2\n"
        "if [ \"$CRIMPL_TASK_ID\" = 13 ] && [ ! -f ../retry ]; then exit 3; fi\n"
        "echo \"$CRIMPL_TASK_ID $CRIMPL_TASK_COUNT\" > out.txt\n"
    )
    assert slurm_kernel.execute(cell, timeout=90).ok
    ids = slurm_kernel.execute("%%crimpl run\ncat crimpl-job-big/crimpl-slurm.id\n").text.split()[-3:]
    assert all(i.isdigit() for i in ids) and len(set(ids)) == 3, ids
    # A job after the sweep waits for every piece.
    assert slurm_kernel.execute(
        "%%crimpl submit --job after-big --after big:any\ncat ../crimpl-job-big/task-0025/out.txt\n").ok
    waited = slurm_kernel.execute("%crimpl wait big", timeout=180)
    assert not waited.ok and "ended failed" in waited.error, waited.error
    status = slurm_kernel.execute("%crimpl status big --tasks").text
    assert "25/25 tasks ended: 24 complete, 1 failed" in status, status
    assert "task-0013: failed (exit code 3)" in status and "task-0025" in status, status
    after = slurm_kernel.execute("%crimpl wait after-big", timeout=90)
    assert after.ok, after.error
    assert "25 25" in slurm_kernel.execute("%crimpl log after-big").text
    # The task's Slurm output is in its directory, under its piece's id and index.
    files = slurm_kernel.execute(
        "%%crimpl run\ncat crimpl-job-big/task-0025/crimpl-slurm.id; ls crimpl-job-big/task-0025/\n").text
    assert f"{ids[2]}_3" in files and f"crimpl-slurm-{ids[2]}_3.out" in files, files

    assert slurm_kernel.execute("%%crimpl run\ntouch crimpl-job-big/retry\n").ok
    again = slurm_kernel.execute("%crimpl resubmit big --failed")
    assert again.ok and "Running 1 task(s) of array big again" in again.text, again.error
    assert slurm_kernel.execute("%crimpl wait big", timeout=120).ok
    assert "25/25 tasks ended: 25 complete" in slurm_kernel.execute("%crimpl status big").text
    assert slurm_kernel.execute("%crimpl fetch big", timeout=60).ok
    for task in (1, 10, 11, 13, 22, 25):
        assert (slurm_kernel.cwd / f"task-{task:04d}" / "out.txt").read_text() == f"{task} 25\n"
    listed = slurm_kernel.execute("%crimpl ls big").text
    assert "25 task directories" in listed, listed

    # A running sweep of several pieces is killed as one: every piece is canceled.
    assert slurm_kernel.execute("%%crimpl submit --job long-big --array 1-25\nsleep 300\n", timeout=90).ok
    wait_for(slurm_kernel, "long-big", "running")
    killed = slurm_kernel.execute("%crimpl kill long-big")
    assert killed.ok and "canceled" in killed.text, killed.error
    time.sleep(2)
    assert "crimpl-long-big" not in slurm.run("squeue", "--noheader", "--format=%j")
    assert "25/25 tasks ended: 25 canceled" in slurm_kernel.execute("%crimpl status long-big").text


def test_a_walltime_over_the_partitions_max_time_is_refused_naming_the_limit(slurm_kernel):
    """The test cluster enforces partition limits at submit (EnforcePartLimits=ALL), as sites do."""
    refused = slurm_kernel.execute("%%crimpl submit --job limited --walltime 0:10:00 --partition short\ntrue\n")
    assert not refused.ok
    assert 'Slurm says "Requested time limit is invalid' in refused.error, refused.error
    assert "--walltime 0:10:00 is over partition short's MaxTime 00:01:00: ask for less with --walltime" in refused.error
    # Nothing was queued, so nothing is left: the corrected cell takes the same name.
    assert "limited" not in slurm_kernel.execute("%crimpl jobs").text
    fixed = slurm_kernel.execute("%%crimpl submit --job limited --walltime 0:01:00 --partition short\ntrue\n")
    assert fixed.ok, fixed.error
    wrong = slurm_kernel.execute("%%crimpl submit --partition nowhere\ntrue\n")
    assert not wrong.ok and "(debug, short, hidden): choose one with --partition" in wrong.error, wrong.error


def test_run_srun_runs_the_cell_on_a_compute_node_and_an_interrupt_cancels_it(slurm_kernel, cluster):
    from test_ssh_commands import wait_for_output

    slurm, _ = cluster
    result = slurm_kernel.execute(
        "%%crimpl run --srun --nprocs 1 --walltime 0:05:00\n"
        "echo \"node $SLURMD_NODENAME job ${SLURM_JOB_ID:-none} cpus $SLURM_CPUS_PER_TASK\"\n",
        timeout=90,
    )
    assert result.ok, result.error
    assert "node localhost job " in result.text and "job none" not in result.text and "cpus 1" in result.text
    msg_id = slurm_kernel.kc.execute("%%crimpl run --srun\necho started\nsleep 600\necho never\n")
    wait_for_output(slurm_kernel, msg_id, "started")
    slurm_kernel.km.interrupt_kernel()
    stopped = slurm_kernel.collect(msg_id, timeout=30)
    assert stopped.reply["ename"] == "Interrupted" and "never" not in stopped.text, stopped.error
    deadline = time.monotonic() + 15
    while "crimpl-run" in slurm.run("squeue", "--noheader", "--format=%j") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "crimpl-run" not in slurm.run("squeue", "--noheader", "--format=%j")
    local = slurm_kernel.cwd / "local-jobs"
    assert slurm_kernel.execute(f"%crimpl server new local here --directory {local}").ok
    refused = slurm_kernel.execute("%%crimpl run --srun --server here\ntrue\n")
    assert not refused.ok and "--srun runs the cell on a Slurm compute node: here is a local server" in refused.error
