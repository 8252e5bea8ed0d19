"""The AWS EC2 server against the EC2 API served by moto, with this
machine's sshd standing in for the instances (their private addresses are
127.0.0.x). The SSH user is unprivileged: a job instance's own `shutdown`
fails here, so the kernel must end finished job instances through the API."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import nbformat
import pytest

from harness import backends
from harness.aws_timing import AwsTiming
from harness.sshd import TEST_USER
from kernel_helpers import Kernel, kernel_env, wait_for

pytestmark = pytest.mark.system  # a test user, sshd as root (moto alone would need neither)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    # The module's instances (over 60 of them) each take a new address.
    with backends.aws_cloud(tmp_path_factory.mktemp("aws"), "crimpl-aws", ".crimpl-helper", last_address=200) as pair:
        yield pair


@pytest.fixture
def timing(cloud):
    """moto behind a forwarder with real AWS's timing (states take seconds)."""
    moto, _ = cloud
    forwarder = AwsTiming(moto, seconds=3)
    try:
        yield forwarder
    finally:
        forwarder.stop()


@pytest.fixture
def aws_kernel(cloud, workdir, config_dir):
    moto, sshd = cloud
    env = kernel_env(config_dir, home=sshd.home)
    env.update(moto.env())
    kernel = Kernel(workdir, env)
    name = f"aws{uuid.uuid4().hex[:6]}"
    kernel.new_server = backends.new_aws_server(moto, sshd, name, f"~/crimpl-aws/{name}")
    result = kernel.execute(kernel.new_server + f"\n%crimpl server use {name}")
    assert result.ok, result.error
    kernel.server_name = name
    yield kernel
    # Each test cleans up its own server: instances terminated, volume deleted.
    cleanup = kernel.execute(f"%crimpl server delete-volume {name} --yes", timeout=120)
    kernel.shutdown()
    assert cleanup.ok, cleanup.error


def server_volume(moto, name):
    return [v for v in moto.volumes() if {"Key": "crimpl.server_name", "Value": name} in v.get("Tags", [])]


def test_server_new_makes_a_tagged_volume_in_the_subnets_zone(aws_kernel, cloud):
    moto, _ = cloud
    (volume,) = server_volume(moto, aws_kernel.server_name)
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert volume["AvailabilityZone"] == moto.zone and volume["Size"] == 8
    assert tags["crimpl.level"] == "server-volume" and "crimpl.version" in tags
    show = aws_kernel.execute("%crimpl server show").text
    assert volume["VolumeId"] in show


@pytest.mark.parametrize("directory", ["~", "the home's path", "/"])
def test_a_directory_the_volume_would_hide_the_home_under_is_refused(aws_kernel, cloud, directory):
    """The volume is mounted over --directory: over the home (or a parent of
    it), it would hide the SSH key the kernel logs in with."""
    moto, sshd = cloud
    # The test user's name differs between workers: the test's id must not.
    directory = f"/home/{TEST_USER}" if directory == "the home's path" else directory
    made = aws_kernel.execute(
        f"%crimpl server new aws hider --key-file ~/.ssh/id_ed25519 --subnet-id {moto.subnet_id} "
        f"--security-group-id {moto.security_group_id} --username {TEST_USER} --ssh-address private "
        f"--ssh-port {sshd.port} --directory {directory}"
    )
    assert not made.ok and "would hide" in made.error and "~/crimpl" in made.error, made.error
    assert "hider" not in aws_kernel.execute("%crimpl server list").text
    tagged = [v for v in moto.volumes() if {"Key": "crimpl.server_name", "Value": "hider"} in v.get("Tags", [])]
    assert tagged == [], "no volume is made for a refused server"


def test_server_instance_start_stop_terminate(aws_kernel, cloud):
    moto, _ = cloud
    assert "not-started" in aws_kernel.execute("%crimpl server state").text
    started = aws_kernel.execute("%crimpl server start", timeout=120)
    assert started.ok, started.error
    (instance,) = moto.live_instances()
    assert instance["InstanceType"] == "t2.micro"
    # The metadata service asks for session tokens (IMDSv2) and stays one hop away.
    options = instance["MetadataOptions"]
    assert (options["HttpTokens"], options["HttpPutResponseHopLimit"]) == ("required", 1), options
    (volume,) = server_volume(moto, aws_kernel.server_name)
    assert [a["InstanceId"] for a in volume["Attachments"]] == [instance["InstanceId"]]
    assert "running" in aws_kernel.execute("%crimpl server state").text
    run = aws_kernel.execute("%%crimpl run\necho \"setup as $(id -un) in $PWD\"\n", timeout=60)
    assert run.ok and f"setup as {TEST_USER}" in run.text, run.error
    assert aws_kernel.execute("%crimpl server stop").ok
    assert "stopp" in aws_kernel.execute("%crimpl server state").text
    assert aws_kernel.execute("%crimpl server terminate", timeout=120).ok
    assert moto.live_instances() == []


def test_submit_runs_on_a_sized_job_instance_which_ends_with_the_job(aws_kernel, cloud, workdir):
    moto, _ = cloud
    assert aws_kernel.execute("%crimpl server start", timeout=120).ok
    (workdir / "input.txt").write_text("21\n")
    result = aws_kernel.execute(
        "%%crimpl submit --job fit --nprocs 8 --files input.txt --wait\n"
        "echo \"nprocs requested, running as $(id -un)\"\n"
        "sleep 2\n"
        "awk '{ print $1 * 2 }' input.txt > output.txt\n",
        timeout=180,
    )
    assert result.ok, result.error
    statuses = [m["content"]["data"]["text/plain"] for m in result.outputs if m["msg_type"] == "update_display_data"]
    assert any("running" in text for text in statuses) and "complete" in statuses[-1]
    assert f"running as {TEST_USER}" in result.text
    assert "Terminating the server instance" in result.text
    assert "c6i.2xlarge" in result.text and "complete" in result.text
    # The job's own `sudo shutdown` cannot work here: the kernel terminated it through the API.
    assert moto.live_instances() == []
    states = moto.ec2.describe_instances(Filters=[{"Name": "tag:crimpl.job_name", "Values": ["fit"]}])
    (job_instance,) = [i for r in states["Reservations"] for i in r["Instances"]]
    assert job_instance["InstanceType"] == "c6i.2xlarge"
    assert job_instance["State"]["Name"] == "terminated"
    # With no instance running, the recorded end answers status...
    assert "complete" in aws_kernel.execute("%crimpl status fit").text
    # ...the log's end, kept before the instance ended, answers log...
    log = aws_kernel.execute("%crimpl log fit")
    assert log.ok and f"running as {TEST_USER}" in log.text, log.error
    tail = aws_kernel.execute("%crimpl log fit --tail 1")
    assert tail.ok and tail.text.strip() == f"nprocs requested, running as {TEST_USER}", tail.text
    assert moto.live_instances() == []
    # ...and fetch starts the server instance to reach the volume, and says so.
    fetched = aws_kernel.execute("%crimpl fetch fit", timeout=180)
    assert fetched.ok, fetched.error
    assert "starting the server instance" in fetched.text
    assert (workdir / "output.txt").read_text() == "42\n"
    # The manifest fetched beside it names the instance the job ran on.
    placement = json.loads((workdir / ".crimpl" / "fit.json").read_text())["placement"]
    assert placement == {"aws_instance_id": job_instance["InstanceId"], "aws_instance_type": "c6i.2xlarge",
                         "aws_image_id": job_instance["ImageId"]}, placement
    # A changed cell under the job's name is refused before anything is
    # launched: the server instance the fetch started reads the manifest...
    live = moto.live_instances()
    changed = "%%crimpl submit --job fit --nprocs 2\necho again\n"
    again = aws_kernel.execute(changed, timeout=180)
    assert not again.ok and "with another script, inputs or options" in again.error, again.error
    assert "--nprocs: 8 -> 2" in again.error
    assert [i["InstanceId"] for i in moto.live_instances()] == [i["InstanceId"] for i in live]
    # ...and with no instance to read the volume first, a submit that cannot
    # place its job leaves no instance running for it.
    assert aws_kernel.execute("%crimpl server terminate", timeout=180).ok
    again = aws_kernel.execute(changed, timeout=180)
    assert not again.ok and "exists already" in again.error
    assert "terminating the instance" in again.text
    assert moto.live_instances() == []


def test_a_sweep_runs_on_one_sized_job_instance_which_ends_with_it(aws_kernel, cloud, workdir):
    moto, _ = cloud
    result = aws_kernel.execute(
        "%%crimpl submit --job sweep --array 1-5 --nprocs 4 --wait\n"
        "echo \"task $CRIMPL_TASK_ID of $CRIMPL_TASK_COUNT\" > out.txt\n"
        "[ \"$CRIMPL_TASK_ID\" != 3 ]\n",
        timeout=180,
    )
    assert not result.ok and "ended failed" in result.error, result.error
    assert "c6i.xlarge" in result.text
    assert moto.live_instances() == [], "the job instance ends with its sweep"
    states = moto.ec2.describe_instances(Filters=[{"Name": "tag:crimpl.job_name", "Values": ["sweep"]}])
    assert [i["InstanceType"] for r in states["Reservations"] for i in r["Instances"]] == ["c6i.xlarge"]
    # With no instance running, this machine's record of the end has the tasks.
    status = aws_kernel.execute("%crimpl status sweep --tasks").text
    assert "5/5 tasks ended: 4 complete, 1 failed" in status and "task-0003: failed (exit code 1)" in status, status
    fetched = aws_kernel.execute("%crimpl fetch sweep", timeout=180)
    assert fetched.ok, fetched.error
    assert (workdir / "task-0005" / "out.txt").read_text() == "task 5 of 5\n"


def instances_of(moto, job):
    states = moto.ec2.describe_instances(Filters=[{"Name": "tag:crimpl.job_name", "Values": [job]}])
    return [i for r in states["Reservations"] for i in r["Instances"]]


def level(instance):
    return {t["Key"]: t["Value"] for t in instance["Tags"]}["crimpl.level"]


def test_a_sweep_spread_over_instances_runs_tasks_on_helpers_and_brings_each_back(aws_kernel, cloud, workdir):
    moto, sshd = cloud
    keys = sshd.run_as_user("cat ~/.ssh/authorized_keys")
    # Each stand-in instance runs as many tasks as this machine has CPUs:
    # enough tasks fill the job instance and go to the helpers too.
    tasks = 2 * int(sshd.run_as_user("nproc")) + 4
    # The stand-in instances share one disk: the helpers run their tasks in
    # their own directory, so a task not sent there, or not brought back,
    # fails here as it would on separate machines.
    result = aws_kernel.execute(
        f"%%crimpl submit --job spread --array 1-{tasks} --instances 3 --nprocs 2 --wait\n"
        "pwd > where.txt\n"
        "echo \"task $CRIMPL_TASK_ID of $CRIMPL_TASK_COUNT\" > out.txt\n"
        "sleep 1\n"
        "[ \"$CRIMPL_TASK_ID\" != 7 ]\n",
        timeout=300,
    )
    assert not result.ok and "ended failed" in result.error, result.error
    assert "Launching 2 helper c6i.large instance(s)" in result.text, result.text
    assert "resubmit" not in result.error, "AWS runs a job again only as a new submit"
    instances = instances_of(moto, "spread")
    assert sorted(level(i) for i in instances) == ["helper", "helper", "job"]
    assert {i["InstanceType"] for i in instances} == {"c6i.large"}
    assert moto.live_instances() == [], "the helpers end with the sweep"
    status = aws_kernel.execute("%crimpl status spread --tasks").text
    assert f"{tasks}/{tasks} tasks ended: {tasks - 1} complete, 1 failed" in status, status
    assert "task-0007: failed (exit code 1)" in status, status
    fetched = aws_kernel.execute("%crimpl fetch spread", timeout=180)
    assert fetched.ok, fetched.error
    places = {}
    for task in range(1, tasks + 1):
        folder = workdir / f"task-{task:04d}"
        assert (folder / "out.txt").read_text() == f"task {task} of {tasks}\n"
        places[task] = (folder / "where.txt").read_text()
    on_helpers = [t for t, where in places.items() if "/.crimpl-helper/crimpl-job-spread/" in where]
    assert on_helpers and len(on_helpers) < tasks, places
    placement = json.loads((workdir / ".crimpl" / "spread.json").read_text())["placement"]
    helpers = sorted(i["InstanceId"] for i in instances if level(i) == "helper")
    assert sorted(placement["aws_helper_ids"].split()) == helpers, placement
    # Each helper shut itself down once it had no task left, emptied, the
    # sweep's key taken out of it.
    log = aws_kernel.execute("%crimpl log spread").text
    assert log.count("has no task left: it shuts down") == 2, log
    assert sshd.run_as_user("cat ~/.ssh/authorized_keys") == keys
    assert sshd.run_as_user("ls -A ~/.crimpl-helper 2>/dev/null || true") == ""
    # The sweep's key pair is gone from the job directory: nothing it opened is left.
    assert sshd.run_as_user("find ~ -path '*/crimpl-job-spread/crimpl-array.key*'") == ""


def test_a_sweeps_instance_shuts_down_after_the_sweep_not_after_its_first_task(aws_kernel):
    plan = aws_kernel.execute("%%crimpl submit --job plan --array 1-3 --instances 3 --trial-run\necho hi\n")
    assert plan.ok, plan.error
    assert "3 new c6i.large job instances (one holds the volume, 2 helper(s) end with the sweep)" in plan.text
    scripts = dict(re.findall(r"\n(crimpl-[a-z-]+\.sh):\n(.*?)(?=\ncrimpl-[a-z-]+\.sh:\n|\Z)", plan.text, re.S))
    # A minute's grace by a detached sleep: a scheduled `shutdown -h +1` would make
    # logind refuse logins (/run/nologin) in the very minute the kernel comes for the end.
    assert "sleep 60; sudo -n shutdown -h now" in scripts["crimpl-wrapper.sh"], scripts.keys()
    assert "shutdown -h +" not in scripts["crimpl-wrapper.sh"]
    assert "shutdown" not in scripts["crimpl-task-wrapper.sh"]


def test_killing_a_spread_sweep_cancels_the_tasks_on_its_helpers(aws_kernel, cloud):
    moto, sshd = cloud
    cpus = int(sshd.run_as_user("nproc"))
    tasks = 2 * cpus + 2
    submitted = aws_kernel.execute(
        f"%%crimpl submit --job spreadkill --array 1-{tasks} --instances 2 --nprocs 2\nsleep 300\n", timeout=300
    )
    assert submitted.ok, submitted.error
    sleeping = "pgrep -u $(id -u) -f -x 'sleep 300' | wc -l"
    deadline = time.monotonic() + 60
    while int(sshd.run_as_user(sleeping)) < 2 * cpus and time.monotonic() < deadline:
        time.sleep(0.5)
    assert int(sshd.run_as_user(sleeping)) == 2 * cpus, "as many tasks as CPUs on the job instance, and on its helper"
    # One task's processes vanish on the helper, as under the OOM killer's
    # SIGKILL to the whole group or a helper's crash: the task reads lost.
    # (On its helper, in the sweep's directory of that helper: `1/` for the first.)
    there = "~/.crimpl-helper/crimpl-job-spreadkill/1"
    first = sshd.run_as_user(f"ls {there} | grep '^task-' | head -1").strip()
    pid = sshd.run_as_user(f"cat {there}/{first}/crimpl-job.pid").strip()
    os.killpg(int(pid), signal.SIGKILL)
    wait_for(aws_kernel, "spreadkill --tasks", f"{first}: lost", 30)
    killed = aws_kernel.execute("%crimpl kill spreadkill", timeout=120)
    assert killed.ok, killed.error
    status = wait_for(aws_kernel, "spreadkill --tasks", f"{tasks}/{tasks} tasks ended", 90)
    assert f"{tasks - 1} canceled, 1 lost" in status and "running" not in status, status
    assert int(sshd.run_as_user(sleeping)) == 0, "no task is left running on a helper"
    assert moto.live_instances() == []


def test_a_job_whose_instance_ends_under_it_reads_lost_with_ec2s_reason(aws_kernel, cloud):
    moto, sshd = cloud
    submitted = aws_kernel.execute("%%crimpl submit --job doomed\necho started\nsleep 300\n", timeout=180)
    assert submitted.ok, submitted.error
    wait_for(aws_kernel, "doomed", "running", 60)
    states = moto.ec2.describe_instances(Filters=[{"Name": "tag:crimpl.job_name", "Values": ["doomed"]}])
    (instance,) = [i["InstanceId"] for r in states["Reservations"] for i in r["Instances"]]
    # The instance dies under its job, as at a spot interruption: EC2 ends
    # it, and the job's processes end with it (no trap records an end).
    moto.ec2.terminate_instances(InstanceIds=[instance])
    pid = sshd.run_as_user(f"cat ~/crimpl-aws/{aws_kernel.server_name}/crimpl-job-doomed/crimpl-job.pid")
    os.killpg(int(pid), signal.SIGKILL)
    # No instance holds the volume: the kernel says what EC2 says of the job's.
    asked = aws_kernel.execute("%crimpl status doomed")
    assert not asked.ok and f"its instance {instance} was terminated" in asked.error, asked.error
    assert "%crimpl server start" in asked.error
    assert aws_kernel.execute("%crimpl server start", timeout=120).ok
    status = aws_kernel.execute("%crimpl status doomed").text
    assert f"lost: its instance {instance} was terminated: " in status, status


def test_a_new_kernel_finds_the_server_by_its_volume(aws_kernel, cloud, tmp_path):
    moto, sshd = cloud
    env = kernel_env(tmp_path / "other-config", home=sshd.home)
    env.update(moto.env())
    other = Kernel(tmp_path, env)
    try:
        found = other.execute(aws_kernel.new_server)
        assert found.ok, found.error
        assert "Found the volume" in found.text
        assert len(server_volume(moto, aws_kernel.server_name)) == 1
    finally:
        other.shutdown()


def test_job_create_chooses_the_instance_a_later_submit_uses(aws_kernel, cloud):
    moto, _ = cloud
    created = aws_kernel.execute("%crimpl job create --job planned --nprocs 3 --start", timeout=120)
    assert created.ok, created.error
    (instance,) = moto.live_instances()
    assert instance["InstanceType"] == "c6i.xlarge"
    assert "running" in aws_kernel.execute("%crimpl job state planned").text
    submitted = aws_kernel.execute("%%crimpl submit --job planned --wait\nnproc > cpus.txt\n", timeout=180)
    assert submitted.ok, submitted.error
    assert "holds the volume: the job goes there" in submitted.text and "Launching" not in submitted.text
    assert moto.live_instances() == []


def test_job_instance_actions_by_job_name(aws_kernel, cloud):
    """`job stop|start|terminate` act on the job's own instance through the server;
    a job without an instance is NotFound, and nothing else is touched."""
    moto, _ = cloud
    created = aws_kernel.execute("%crimpl job create --job held --start", timeout=120)
    assert created.ok, created.error
    (instance,) = moto.live_instances()
    steps = {
        "%crimpl job stop held": f"Stopping job held's instance {instance['InstanceId']}",
        "%crimpl job start held": f"Job held's instance {instance['InstanceId']} runs",
        "%crimpl job terminate held": f"Terminated job held's instance {instance['InstanceId']}",
        "%crimpl job state held": "Job held: no instance",
    }
    for step, said in steps.items():
        result = aws_kernel.execute(step, timeout=120)
        assert result.ok, f"{step}: {result.error}"
        assert said in result.text, f"{step}: {result.text}"
    assert moto.live_instances() == []
    gone = aws_kernel.execute("%crimpl job terminate held")
    assert not gone.ok and "NotFound: " in gone.text and "job held has no instance" in gone.error
    assert len(server_volume(moto, aws_kernel.server_name)) == 1


def test_kernel_shutdown_names_the_instances_still_running(aws_kernel, cloud, tmp_path):
    moto, sshd = cloud
    env = kernel_env(tmp_path / "other-config", home=sshd.home)
    env.update(moto.env())
    log = tmp_path / "kernel.log"
    other = Kernel(tmp_path, env, log=log)
    try:
        started = other.execute(aws_kernel.new_server + "\n%crimpl server start", timeout=120)
        assert started.ok, started.error
    finally:
        other.shutdown()
    (instance,) = moto.live_instances()
    said = log.read_text()
    assert f"crimpl instance {instance['InstanceId']} (t2.micro server instance of {aws_kernel.server_name}) is still running" in said
    assert f"%crimpl server stop {aws_kernel.server_name}" in said


def test_instance_host_keys_are_learnt_at_launch_then_checked(aws_kernel, cloud, tmp_path):
    moto, sshd = cloud
    assert aws_kernel.execute("%crimpl server start", timeout=120).ok
    (instance,) = moto.live_instances()
    known_hosts = sshd.home / ".ssh" / "known_hosts"
    alias = f"[{instance['InstanceId']}]:{sshd.port} "
    (learnt,) = [line for line in known_hosts.read_text().splitlines() if line.startswith(alias)]
    # Another kernel (as on another machine) has not seen this instance launch: its key is refused...
    known_hosts.write_text("".join(f"{line}\n" for line in known_hosts.read_text().splitlines() if line != learnt))
    env = kernel_env(tmp_path / "other-config", home=sshd.home)
    env.update(moto.env())
    other = Kernel(tmp_path, env)
    name = aws_kernel.server_name
    try:
        assert other.execute(aws_kernel.new_server).ok
        refused = other.execute(f"%crimpl jobs --server {name}", timeout=60)
        assert not refused.ok and "is not known" in refused.error
        fingerprint = re.search(r"SHA256:[A-Za-z0-9+/]+", refused.error).group(0)
        # ...until the user trusts the fingerprint they checked.
        trusted = other.execute(f"%crimpl server trust {name} {fingerprint}", timeout=60)
        assert trusted.ok, trusted.error
        assert learnt in known_hosts.read_text()
        assert other.execute(f"%crimpl jobs --server {name}").ok
        # A changed key is always refused.
        other_key = (sshd.home / ".ssh" / "id_ed25519.pub").read_text().split()[1]
        known_hosts.write_text(known_hosts.read_text().replace(learnt.split()[2], other_key))
        other.restart()
        changed = other.execute(f"%crimpl jobs --server {name}", timeout=60)
        assert not changed.ok and "HOST KEY CHANGED" in changed.error
    finally:
        other.shutdown()


def test_housekeeping_magics(aws_kernel, cloud):
    moto, _ = cloud
    assert aws_kernel.execute("%crimpl server start", timeout=120).ok
    instances = aws_kernel.execute("%crimpl aws instances").text
    (instance,) = moto.live_instances()
    assert instance["InstanceId"] in instances and "server" in instances
    volumes = aws_kernel.execute("%crimpl aws volumes").text
    assert aws_kernel.server_name in volumes
    cost = aws_kernel.execute("%crimpl aws cost").text
    assert "per hour" in cost and "t2.micro" in cost
    refused = aws_kernel.execute("%crimpl aws terminate-all")
    assert not refused.ok and "--yes" in refused.error
    outsider = moto.ec2.run_instances(ImageId="ami-1e749f67", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    try:
        not_ours = aws_kernel.execute(f"%crimpl aws terminate {outsider}")
        assert not not_ours.ok and "not a running crimpl instance" in not_ours.error
        assert aws_kernel.execute("%crimpl aws terminate-all --yes", timeout=120).ok
        assert [i["InstanceId"] for i in moto.live_instances()] == [outsider]
    finally:
        moto.ec2.terminate_instances(InstanceIds=[outsider])


def test_api_errors_are_clear(cloud, workdir, config_dir):
    moto, sshd = cloud
    env = kernel_env(config_dir, home=sshd.home)
    env.update(moto.env())
    kernel = Kernel(workdir, env)
    try:
        result = kernel.execute(
            "%crimpl server new aws broken --key-file ~/.ssh/id_ed25519 --subnet-id subnet-doesnotexist "
            f"--security-group-id {moto.security_group_id}"
        )
        assert not result.ok
        assert "DescribeSubnets failed" in result.error and "subnet-doesnotexist" in result.error
        assert kernel.alive()
    finally:
        kernel.shutdown()
    registry = config_dir / "servers.json"
    assert not registry.exists() or "broken" not in registry.read_text()


def test_aws_notebook_runs_under_nbclient_with_real_aws_timing(cloud, timing, tmp_path):
    """The notebook against moto with AWS's timing: instances pending, stopping and
    shutting down for seconds, the volume in use meanwhile, new instances unknown at first."""
    from test_notebooks import outputs_text, run_notebook

    moto, sshd = cloud
    directory = "~/crimpl-aws/crimpl-demo"
    sshd.run_as_user(f"mkdir -p {directory} && touch {directory}/.crimpl-volume")
    env = kernel_env(tmp_path / "config", home=sshd.home)
    env.update(timing.env())
    env.update({
        "CRIMPL_AWS_KEY_FILE": "~/.ssh/id_ed25519",
        "CRIMPL_AWS_SUBNET_ID": moto.subnet_id,
        "CRIMPL_AWS_SECURITY_GROUP_ID": moto.security_group_id,
        "CRIMPL_AWS_OPTIONS": f"--username {TEST_USER} --ssh-address private --ssh-port {sshd.port} --directory {directory}",
    })
    notebook = run_notebook("aws-ec2.ipynb", tmp_path / "out", env)
    joined = "\n".join(outputs_text(notebook))
    # `job create --nprocs 8` chose the type that the later submit launched.
    assert "Launching a c6i.2xlarge job instance" in joined and "complete" in joined
    assert "starting the server instance" in joined
    assert "100 values, mean 50.5" in joined
    assert "Launching 2 helper c6i.large instance(s)" in joined
    assert "12 tasks, the sum of their parts: 5050" in joined
    assert (tmp_path / "out" / "aws-results" / "summary.txt").exists()
    assert moto.live_instances() == [] and moto.volumes() == []
    # It met every delay and waited through it.
    assert timing.answered["InvalidInstanceID.NotFound"] >= 3 and timing.answered["VolumeInUse"] >= 2, timing.answered
    assert "is stopping: waiting for it to be stopped" in joined


def test_aws_notebook_runs_under_papermill_with_its_parameters(cloud, tmp_path):
    """The same notebook configured by papermill's -p alone, with no CRIMPL_AWS_* set."""
    from test_notebooks import ROOT, outputs_text

    moto, sshd = cloud
    directory = "~/crimpl-aws/papermill-demo"
    sshd.run_as_user(f"mkdir -p {directory} && touch {directory}/.crimpl-volume")
    env = kernel_env(tmp_path / "config", home=sshd.home)
    env.update(moto.env())
    for name in ("CRIMPL_AWS_KEY_FILE", "CRIMPL_AWS_SUBNET_ID", "CRIMPL_AWS_SECURITY_GROUP_ID", "CRIMPL_AWS_OPTIONS"):
        env.pop(name, None)
    work = tmp_path / "out"
    work.mkdir()
    out = work / "aws-ec2.ipynb"
    ran = subprocess.run(
        [
            sys.executable, "-m", "papermill", "--no-progress-bar", str(ROOT / "notebooks" / "aws-ec2.ipynb"), str(out),
            "--cwd", str(work),
            "-p", "server", "papermill-demo",
            "-p", "key_file", "~/.ssh/id_ed25519",
            "-p", "subnet_id", moto.subnet_id,
            "-p", "security_group_id", moto.security_group_id,
            "-r", "options", f"--username {TEST_USER} --ssh-address private --ssh-port {sshd.port} --directory {directory}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    notebook = nbformat.read(out, as_version=4)
    injected = next(cell for cell in notebook.cells if "injected-parameters" in cell.metadata.get("tags", []))
    assert f"%crimpl env subnet_id={moto.subnet_id}" in injected.source
    joined = "\n".join(outputs_text(notebook))
    assert "papermill-demo" in joined and "Launching a c6i.2xlarge job instance" in joined
    assert "100 values, mean 50.5" in joined
    assert (work / "aws-results" / "summary.txt").exists()
    assert moto.live_instances() == [] and moto.volumes() == []


def test_every_state_change_waits_with_real_aws_timing(cloud, timing, workdir, config_dir):
    """Right after each change, the next one: submit while the server instance is
    stopping, terminate while pending, start after a stop, delete-volume at once."""
    moto, sshd = cloud
    env = kernel_env(config_dir, home=sshd.home)
    env.update(timing.env())
    kernel = Kernel(workdir, env)
    name = f"slow{uuid.uuid4().hex[:6]}"
    try:
        new_server = backends.new_aws_server(moto, sshd, name, f"~/crimpl-aws/{name}")
        new = kernel.execute(f"{new_server}\n%crimpl server use {name}")
        assert new.ok, new.error
        steps = [
            "%%crimpl run\necho setup\n",
            "%crimpl server stop",
            # The server instance is still stopping: the job instance waits for the volume.
            "%%crimpl submit --job slow --nprocs 2 --wait\necho done > out.txt\n",
            "%crimpl fetch slow",
            "%crimpl server stop",
            "%crimpl server start",
            "%crimpl server terminate",
            "%crimpl server start",
            "%crimpl server delete-volume --yes",
        ]
        said = []
        for step in steps:
            result = kernel.execute(step, timeout=300)
            assert result.ok, f"{step}: {result.error}"
            said.append(result.text)
        assert (workdir / "out.txt").read_text() == "done\n"
        assert "is stopping: waiting for it to be stopped" in said[5]
        assert "still in use: waiting for it to be free" in "".join(said)
        assert timing.answered["VolumeInUse"] >= 2 and timing.answered["InvalidInstanceID.NotFound"] >= 3
        assert moto.live_instances() == [] and server_volume(moto, name) == []
    finally:
        kernel.shutdown()


def test_sixty_jobs_keep_the_volumes_tags_bounded(aws_kernel, cloud, tmp_path):
    """EC2 allows 50 tags on a volume: job ends are kept there for the latest 40 jobs only,
    also after an earlier kernel recorded 43 (one tag per job, without a time; the volume
    also carries crimpl's own tags and its two pinned images). With no instance running,
    this machine still knows every end it saw; another machine knows the latest 40."""
    moto, sshd = cloud
    name = aws_kernel.server_name
    (volume,) = server_volume(moto, name)
    moto.ec2.create_tags(Resources=[volume["VolumeId"]], Tags=[
        {"Key": f"crimpl.job_status.old{i:02d}", "Value": "complete"} for i in range(43)])
    for i in range(60):
        code = 3 if i in (31, 58) else 0
        result = aws_kernel.execute(f"%%crimpl submit --job j{i:02d} --nprocs 2 --wait\nexit {code}\n", timeout=180)
        assert result.ok == (code == 0), result.error
    (volume,) = server_volume(moto, name)
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    ends = {k.removeprefix("crimpl.job_status."): v.split()[0] for k, v in tags.items() if k.startswith("crimpl.job_status.")}
    assert len(tags) <= 50 and set(ends) == {f"j{i:02d}" for i in range(20, 60)}, sorted(ends)
    assert moto.live_instances() == []
    # No instance runs: this machine saw every job end...
    jobs = aws_kernel.execute("%crimpl jobs").text
    assert all(f"j{i:02d}" in jobs for i in range(60)), jobs
    assert "failed" in aws_kernel.execute("%crimpl status j58").text
    assert "complete" in aws_kernel.execute("%crimpl status j57").text
    assert "failed" in aws_kernel.execute("%crimpl status j31").text
    assert "complete" in aws_kernel.execute("%crimpl status j05").text
    # ...another machine (its own config directory) reads the latest ends from the tags...
    env = kernel_env(tmp_path / "other-config", home=sshd.home)
    env.update(moto.env())
    other = Kernel(tmp_path, env)
    try:
        assert other.execute(aws_kernel.new_server).ok
        jobs = other.execute(f"%crimpl jobs --server {name}").text
        assert "j59" in jobs and "j20" in jobs and "j19" not in jobs
        assert "failed" in other.execute(f"%crimpl status j58 --server {name}").text
        older = other.execute(f"%crimpl status j05 --server {name}")
        assert not older.ok and "keeps the latest 40" in older.error and "server start" in older.error
    finally:
        other.shutdown()
    # ...and with an instance the volume itself knows every job.
    assert aws_kernel.execute("%crimpl server start", timeout=120).ok
    jobs = aws_kernel.execute("%crimpl jobs").text
    assert all(f"j{i:02d}" in jobs for i in range(60))
    assert "failed" in aws_kernel.execute("%crimpl status j31").text


def test_a_job_uses_the_environment_a_setup_run_made_on_the_volume(aws_kernel, cloud, workdir):
    """The documented setup: a virtual environment on the volume, made and filled by a
    `run` on the server instance, used by a job on its own instance."""
    (workdir / "greet.py").write_text("def hello():\n    return 'hello from the volume'\n")
    (workdir / "setup.py").write_text("from setuptools import setup\nsetup(name='greet', version='1.0', py_modules=['greet'])\n")
    setup = aws_kernel.execute(
        "%%crimpl run --files greet.py setup.py\n"
        "set -e\n"
        "python3 -m venv venv\n"
        "mkdir -p src && mv greet.py setup.py src/\n"
        "venv/bin/pip install -q --no-index --no-build-isolation ./src\n"
        "rm -r src\n",
        timeout=300,
    )
    assert setup.ok, setup.error + setup.text
    job = aws_kernel.execute(
        "%%crimpl submit --job greet --nprocs 2 --wait\n"
        "../venv/bin/python -c 'import greet; print(greet.hello())' > greeting.txt\n",
        timeout=300,
    )
    assert job.ok, job.error
    assert "Launching a c6i.large job instance" in job.text and "complete" in job.text
    fetched = aws_kernel.execute("%crimpl fetch greet", timeout=300)
    assert fetched.ok, fetched.error
    assert (workdir / "greeting.txt").read_text() == "hello from the volume\n"


def crimpl_instance_in(moto, region, server):
    """An instance tagged as crimpl tags its server instances, made in `region` behind the kernel's back."""
    ec2 = moto.client_in(region)
    tags = [{"Key": "crimpl.version", "Value": "crimpl-kernel-test"}, {"Key": "crimpl.level", "Value": "server"},
            {"Key": "crimpl.server_name", "Value": server}]
    made = ec2.run_instances(ImageId="ami-1e749f67", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    return ec2, made["Instances"][0]["InstanceId"]


def test_a_server_keeps_its_region_whatever_aws_region_says_later(aws_kernel, cloud, config_dir, tmp_path):
    """The region is saved at `server new`; a kernel whose AWS_REGION names another region
    still reaches the server's volume and instances there. Housekeeping says which region(s)
    it covered; --all-regions covers every enabled one."""
    moto, sshd = cloud
    name = aws_kernel.server_name
    registry = json.loads((config_dir / "servers.json").read_text())
    assert registry["servers"][name]["region"] == "us-east-1"
    assert "us-east-1" in aws_kernel.execute("%crimpl server show").text
    elsewhere, outsider = crimpl_instance_in(moto, "eu-west-1", "elsewhere")
    env = kernel_env(config_dir, home=sshd.home)
    env.update(moto.env())
    env["AWS_REGION"] = "eu-west-1"
    other = Kernel(tmp_path, env)
    try:
        started = other.execute(f"%crimpl server start {name}", timeout=120)
        assert started.ok, started.error
        (instance,) = moto.live_instances()  # in us-east-1, with the server's volume
        (volume,) = server_volume(moto, name)
        assert [a["InstanceId"] for a in volume["Attachments"]] == [instance["InstanceId"]]
        run = other.execute(f"%%crimpl run --server {name}\necho on the volume\n", timeout=60)
        assert run.ok and "on the volume" in run.text, run.error
        # The housekeeping magics cover the kernel's region, and say so...
        here = other.execute("%crimpl aws instances").text
        assert "crimpl instances in eu-west-1" in here
        assert outsider in here and instance["InstanceId"] not in here
        # ...or every enabled region, each instance with its own.
        everywhere = other.execute("%crimpl aws instances --all-regions")
        assert everywhere.ok, everywhere.error
        regions = {r["RegionName"] for r in moto.ec2.describe_regions()["Regions"]}
        assert f"crimpl instances in {len(regions)} regions (" in everywhere.text
        rows = {line.split()[0]: line.split()[1] for line in everywhere.text.splitlines() if line.startswith("i-")}
        assert rows == {instance["InstanceId"]: "us-east-1", outsider: "eu-west-1"}, everywhere.text
        named = other.execute("%crimpl aws instances --region us-east-1").text
        assert "crimpl instances in us-east-1" in named and instance["InstanceId"] in named
        refused = other.execute(f"%crimpl aws terminate {instance['InstanceId']}")
        assert not refused.ok and "not a running crimpl instance in eu-west-1" in refused.error
        assert other.execute(f"%crimpl server stop {name}").ok
        # `server new` works in the chain's region, or the one --region names.
        wrong = other.execute(aws_kernel.new_server + " --replace")
        assert not wrong.ok and "DescribeSubnets failed" in wrong.error
        again = other.execute(aws_kernel.new_server + " --replace --region us-east-1")
        assert again.ok and "Found the volume" in again.text, again.error
        assert json.loads((config_dir / "servers.json").read_text())["servers"][name]["region"] == "us-east-1"
    finally:
        other.shutdown()
        elsewhere.terminate_instances(InstanceIds=[outsider])
    # A server saved before regions were (no region in its settings) is given the
    # kernel's region at its first use, and keeps it.
    registry = json.loads((config_dir / "servers.json").read_text())
    del registry["servers"][name]["region"]
    (config_dir / "servers.json").write_text(json.dumps(registry))
    aws_kernel.restart()
    state = aws_kernel.execute(f"%crimpl server state {name}")
    assert state.ok and "stopp" in state.text, state.error
    assert json.loads((config_dir / "servers.json").read_text())["servers"][name]["region"] == "us-east-1"


def cost_rows(text):
    """(resource, what, per hour) of each line of the cost table."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"\s{2,}", line.strip())]
        if len(cells) == 4 and cells[0] != "region":
            rows[cells[1]] = (cells[2], cells[3])
    return rows


def test_cost_counts_instances_their_volumes_and_public_addresses(aws_kernel, cloud):
    """Running: the instance, its public IPv4 address, its root volume and the server's
    volume. Stopped: no instance-hours, but both volumes still. Terminated: the server's
    volume alone. The total is the sum of the lines, from the dated table."""
    moto, _ = cloud
    name = aws_kernel.server_name
    assert aws_kernel.execute("%crimpl server start", timeout=120).ok
    (instance,) = moto.live_instances()
    (server_vol,) = server_volume(moto, name)
    attached = moto.ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}])["Volumes"]
    roots = [v for v in attached if v["VolumeId"] != server_vol["VolumeId"]]
    assert roots, "moto gives every instance a root volume"
    running = aws_kernel.execute("%crimpl aws cost")
    assert running.ok, running.error
    rows = cost_rows(running.text)
    assert "server instance t2.micro running" in rows[instance["InstanceId"]][0]
    assert rows[instance["InstanceId"]][1] == "$0.0116"
    assert f"8 GiB gp3 server volume, attached to {instance['InstanceId']}" in rows[server_vol["VolumeId"]][0]
    for root in roots:
        assert f"volume of server instance {instance['InstanceId']} (running)" in rows[root["VolumeId"]][0]
    # A public address is billed, and listed, exactly when the instance has one.
    public_rows = {key: row for key, row in rows.items() if row[0].startswith("public IPv4 address")}
    public = instance.get("PublicIpAddress")
    expected = {public: (f"public IPv4 address of {instance['InstanceId']}", "$0.0050")} if public else {}
    assert public_rows == expected, public_rows
    total = float(re.search(r"about \$(\d+\.\d+) per hour", running.text).group(1))
    assert abs(total - sum(float(v[1].lstrip("$")) for v in rows.values())) < 0.0005
    assert "crimpl resources in us-east-1" in running.text
    assert "Prices as of 20" in running.text and "us-east-1 on-demand" in running.text
    assert aws_kernel.execute("%crimpl server stop").ok
    stopped = cost_rows(aws_kernel.execute("%crimpl aws cost").text)
    assert "no instance-hours" in stopped[instance["InstanceId"]][0] and stopped[instance["InstanceId"]][1] == "$0.0000"
    assert server_vol["VolumeId"] in stopped and all(r["VolumeId"] in stopped for r in roots)
    assert not any(what.startswith("public IPv4") for what, _ in stopped.values())
    assert aws_kernel.execute("%crimpl server terminate", timeout=120).ok
    gone = cost_rows(aws_kernel.execute("%crimpl aws cost").text)
    assert list(gone) == [server_vol["VolumeId"]]
    assert "not attached" in gone[server_vol["VolumeId"]][0] and gone[server_vol["VolumeId"]][1] == "$0.0009"


def test_cost_counts_public_addresses_per_region(cloud, tmp_path):
    """An instance with a public IPv4 address (moto's default subnets map one) in another
    region: its address is counted, and the region's lines say which prices they use."""
    moto, sshd = cloud
    ec2, outsider = crimpl_instance_in(moto, "eu-west-1", "elsewhere")
    try:
        (described,) = [i for r in ec2.describe_instances(InstanceIds=[outsider])["Reservations"] for i in r["Instances"]]
        address = described["PublicIpAddress"]
        env = kernel_env(tmp_path / "config", home=sshd.home)
        env.update(moto.env())
        kernel = Kernel(tmp_path, env)
        try:
            cost = kernel.execute("%crimpl aws cost --all-regions")
            assert cost.ok, cost.error
        finally:
            kernel.shutdown()
        rows = cost_rows(cost.text)
        assert rows[outsider] == ("server instance t3.micro running (on-demand Linux)", "$0.0104")
        assert rows[address] == (f"public IPv4 address of {outsider}", "$0.0050")
        assert "eu-west-1 (at us-east-1 prices)" in cost.text
        assert re.search(r"eu-west-1 \(at us-east-1 prices\)\s+region total\s+\$0\.01", cost.text)
    finally:
        ec2.terminate_instances(InstanceIds=[outsider])
