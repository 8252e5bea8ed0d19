"""`%crimpl server check` and the first minutes with a remote server, against
the real test sshd, the test Slurm cluster and moto: each broken setting is
named by the step it breaks, with the next step to take."""
from __future__ import annotations

import os
import pathlib
import pwd
import shutil
import uuid

import pytest

from harness.moto import INSTANCE_ADDRESSES, Moto
from harness.slurm import Slurm
from harness.sshd import TEST_USER, Sshd, free_port, keygen
from kernel_helpers import Kernel, kernel_env

DIRECTORY = "crimpl-check-tests"
pytestmark = pytest.mark.system  # a test user, sshd (and Slurm) as root
SSH_STEPS = ["name resolution", "TCP connect", "SSH protocol", "host key", "authentication"]
JOB_STEPS = ["shell", "tools", "server directory"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd-check"))
    yield server
    server.stop()
    server.cleanup_user(DIRECTORY)


@pytest.fixture
def kernel(sshd, workdir, config_dir):
    sshd.trust_host_key()
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    yield kernel
    kernel.shutdown()
    sshd.trust_host_key()


def check_table(result) -> dict[str, dict[str, str]]:
    """The final check table of a `server check` cell: step -> {status, time, found, next step}."""
    displays = [m for m in result.outputs if m["msg_type"] in ("display_data", "update_display_data")]
    html = displays[-1]["content"]["data"]["text/html"]
    import html as html_module
    import re

    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>", 1)[1]):
        cells = [html_module.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        rows[cells[0]] = {"status": cells[1], "time": cells[2], "found": cells[3], "next": cells[4]}
    return rows


def statuses(table) -> dict[str, str]:
    return {step: row["status"] for step, row in table.items()}


def new_ssh(kernel, name: str, host: str, directory: str | None = None):
    directory = directory or f"~/{DIRECTORY}/{uuid.uuid4().hex[:8]}"
    return kernel.execute(f"%crimpl server new ssh {name} --host {host} --directory {directory}")


def test_every_step_to_a_working_ssh_server_is_ok(kernel, sshd):
    assert new_ssh(kernel, "remote", sshd.host_alias).ok
    checked = kernel.execute("%crimpl server check remote")
    assert checked.ok, checked.error
    table = check_table(checked)
    assert list(table) == ["way in", "configuration", *SSH_STEPS, *JOB_STEPS]
    assert table["way in"]["found"].startswith("libssh2"), table["way in"]
    assert set(statuses(table).values()) == {"ok"}, table
    assert f"{TEST_USER}@127.0.0.1" in table["configuration"]["found"]
    assert "known" in table["host key"]["found"] and "SHA256:" in table["host key"]["found"]
    assert f"as {TEST_USER} with" in table["authentication"]["found"]
    assert "publickey" in table["authentication"]["found"]
    assert all(row["time"].endswith(("ms", " s")) for row in table.values())
    # The check's updates fill the table in as the steps end.
    updates = [m for m in checked.outputs if m["msg_type"] == "update_display_data"]
    assert len(updates) >= len(table)


def test_local_stays_listed_and_selectable_after_an_ssh_server_is_made(kernel, sshd):
    assert new_ssh(kernel, "remote", sshd.host_alias).ok
    listed = kernel.execute("%crimpl server list").text
    assert " local " in listed and " remote " in listed
    assert kernel.execute("%crimpl server use local").ok
    here = kernel.execute("%%crimpl run\nid -un\n")
    assert here.ok and pwd.getpwuid(os.getuid()).pw_name in here.text
    assert kernel.execute("%crimpl server use remote").ok
    there = kernel.execute("%%crimpl run\nid -un\n")
    assert there.ok and TEST_USER in there.text


def test_a_closed_port_is_named_with_what_to_do(kernel, sshd):
    port = free_port()
    made = new_ssh(kernel, "closed", f"{TEST_USER}@127.0.0.1:{port}")
    # A valid server that cannot be reached yet is saved, and the message says so.
    assert not made.ok and "saved:" in made.error and "but it cannot be reached yet" in made.error
    assert "%crimpl server check closed" in made.error
    checked = kernel.execute("%crimpl server check closed")
    assert not checked.ok and "TCP connect" in checked.error
    table = check_table(checked)
    assert statuses(table)["name resolution"] == "ok"
    assert statuses(table)["TCP connect"] == "failed"
    assert "nothing listens on port" in table["TCP connect"]["next"]
    assert {statuses(table)[s] for s in [*SSH_STEPS[2:], *JOB_STEPS]} == {"skipped"}


def test_an_unknown_host_key_shows_its_fingerprint_and_the_trust_command(kernel, sshd):
    sshd.known_hosts.write_text("")
    made = new_ssh(kernel, "fresh", sshd.host_alias)
    assert not made.ok and "%crimpl server trust fresh SHA256:" in made.error
    table = check_table(kernel.execute("%crimpl server check fresh"))
    assert statuses(table)["SSH protocol"] == "ok" and statuses(table)["host key"] == "failed"
    assert "unknown" in table["host key"]["found"]
    next_step = table["host key"]["next"]
    fingerprint = next(w for w in next_step.split() if w.startswith("SHA256:"))
    assert f"%crimpl server trust fresh {fingerprint}" in next_step
    assert statuses(table)["authentication"] == "skipped"
    assert kernel.execute(f"%crimpl server trust fresh {fingerprint}").ok
    assert set(statuses(check_table(kernel.execute("%crimpl server check fresh"))).values()) == {"ok"}


def test_a_user_without_the_key_is_told_how_to_install_it(kernel, sshd, tmp_path):
    stranger = tmp_path / "stranger"
    keygen(stranger)
    config = sshd.home / ".ssh" / "config"
    original = config.read_text()
    config.write_text(
        original + f"Host stranger\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {TEST_USER}\n  IdentityFile {stranger}\n"
    )
    try:
        assert not new_ssh(kernel, "stranger", "stranger").ok
        table = check_table(kernel.execute("%crimpl server check stranger"))
    finally:
        config.write_text(original)
    assert statuses(table)["host key"] == "ok" and statuses(table)["authentication"] == "failed"
    assert "refused every key" in table["authentication"]["found"]
    assert "publickey" in table["authentication"]["found"]
    assert f"ssh-copy-id -i {stranger}.pub -p {sshd.port} {TEST_USER}@127.0.0.1" in table["authentication"]["next"]


def test_a_bare_host_logs_in_as_the_local_user(sshd, workdir, config_dir):
    env = kernel_env(config_dir, home=sshd.home)
    for variable in ("USER", "LOGNAME"):
        env.pop(variable, None)
    local_user = pwd.getpwuid(os.geteuid()).pw_name
    kernel = Kernel(workdir, env)
    try:
        made = new_ssh(kernel, "bare", f"127.0.0.1:{sshd.port}")
        # The test sshd admits only the test user, so the local user is refused: by name.
        assert f"{local_user}@127.0.0.1:{sshd.port}" in made.text + made.error
        table = check_table(kernel.execute("%crimpl server check bare"))
        assert f"{local_user}@127.0.0.1:{sshd.port}" in table["configuration"]["found"]
        assert statuses(table)["authentication"] == "failed"
        assert f"{local_user}@127.0.0.1" in table["authentication"]["next"]
    finally:
        kernel.shutdown()


def test_a_directory_without_write_permission_is_named(kernel, sshd):
    locked = pathlib.Path(f"/tmp/crimpl-check-{uuid.uuid4().hex[:8]}")
    locked.mkdir(mode=0o755)  # root's: the test user may enter, not write
    try:
        assert new_ssh(kernel, "locked", sshd.host_alias, directory=str(locked)).ok
        checked = kernel.execute("%crimpl server check locked")
        assert not checked.ok
        table = check_table(checked)
        assert statuses(table)["shell"] == "ok" and statuses(table)["server directory"] == "failed"
        assert "cannot write in it" in table["server directory"]["found"]
        assert f"chmod u+w {locked}" in table["server directory"]["next"]
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(locked)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = Slurm()
    sshd = Sshd(tmp_path_factory.mktemp("sshd-check-slurm"), extra_config=f"SetEnv SLURM_CONF={slurm.conf}\n")
    yield slurm, sshd
    slurm.stop()
    sshd.stop()
    sshd.cleanup_user(DIRECTORY)


def test_the_slurm_cluster_checks_its_commands_and_partitions(cluster, workdir, config_dir):
    _, sshd = cluster
    kernel = Kernel(workdir, kernel_env(config_dir, home=sshd.home))
    try:
        made = kernel.execute(
            f"%crimpl server new slurm cluster --host {sshd.host_alias} --directory ~/{DIRECTORY}/slurm"
        )
        assert made.ok, made.error
        checked = kernel.execute("%crimpl server check cluster")
        assert checked.ok, checked.error
        table = check_table(checked)
        assert list(table)[-3:] == ["Slurm commands", "partitions", "site limits"]
        assert set(statuses(table).values()) == {"ok"}, table
        assert "slurm" in table["Slurm commands"]["found"] and "UP" in table["Slurm commands"]["found"]
        assert "debug*" in table["partitions"]["found"]
        limits = table["site limits"]["found"]
        assert "MaxArraySize=11 MaxJobCount=" in limits and "short 00:01:00" in limits, limits
        assert "association limits: no accounting" in limits, limits
    finally:
        kernel.shutdown()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    base = tmp_path_factory.mktemp("aws-check")
    moto = Moto(base / "moto.log")
    # moto puts a subnet in a random zone, and some zones (as in AWS) offer no
    # c6i types: the check would rightly say so. Use a zone that offers them.
    vpc = moto.ec2.describe_subnets(SubnetIds=[moto.subnet_id])["Subnets"][0]["VpcId"]
    moto.ec2.delete_subnet(SubnetId=moto.subnet_id)
    subnet = moto.ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    moto.subnet_id, moto.zone = subnet["SubnetId"], subnet["AvailabilityZone"]
    sshd = Sshd(base / "sshd", listen=INSTANCE_ADDRESSES)
    moto.import_key("crimpl-test", (sshd.home / ".ssh" / "id_ed25519.pub").read_text())
    yield moto, sshd
    leftovers = (moto.live_instances(), moto.volumes())
    moto.stop()
    sshd.stop()
    sshd.cleanup_user("crimpl-aws-check")
    assert leftovers == ([], []), f"instances or volumes left behind: {leftovers}"


def aws_server(cloud, workdir, config_dir, group_rules: list[dict], address: str):
    """A kernel with AWS server `chk` in a new security group with `group_rules`
    (`server new` wants one for the SSH port); the group is `kernel.group`."""
    moto, sshd = cloud
    vpc = moto.ec2.describe_subnets(SubnetIds=[moto.subnet_id])["Subnets"][0]["VpcId"]
    group = moto.ec2.create_security_group(GroupName=f"chk-{uuid.uuid4().hex[:6]}", Description="t", VpcId=vpc)["GroupId"]
    if group_rules:
        moto.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=group_rules)
    env = kernel_env(config_dir, home=sshd.home)
    env.update(moto.env())
    kernel = Kernel(workdir, env)
    directory = f"~/crimpl-aws-check/{uuid.uuid4().hex[:6]}"
    sshd.run_as_user(f"mkdir -p {directory} && touch {directory}/.crimpl-volume")
    made = kernel.execute(
        f"%crimpl server new aws chk --key-file ~/.ssh/id_ed25519 --key-name crimpl-test "
        f"--subnet-id {moto.subnet_id} --security-group-id {group} --username {TEST_USER} "
        f"--ssh-address {address} --ssh-port {sshd.port} --directory {directory} --volume-size 1"
    )
    assert made.ok, made.error
    kernel.group = group
    return kernel


def delete_volume(kernel):
    cleanup = kernel.execute("%crimpl server delete-volume chk --yes", timeout=120)
    kernel.shutdown()
    assert cleanup.ok, cleanup.error


def test_aws_names_the_subnet_and_the_security_group_and_starts_nothing(cloud, workdir, config_dir):
    moto, sshd = cloud
    rule = {"IpProtocol": "tcp", "FromPort": sshd.port, "ToPort": sshd.port, "IpRanges": [{"CidrIp": "127.0.0.0/8"}]}
    kernel = aws_server(cloud, workdir, config_dir, [rule], "public")
    try:
        # The group loses its SSH rule after `server new`.
        moto.ec2.revoke_security_group_ingress(GroupId=kernel.group, IpPermissions=[rule])
        checked = kernel.execute("%crimpl server check chk", timeout=120)
        assert not checked.ok and "1 of" in checked.error
        table = check_table(checked)
        assert statuses(table)["subnet"] == "ok"
        assert "no public IPv4 address of its own" in table["subnet"]["found"]
        assert "ask for one at launch" in table["subnet"]["found"]
        assert statuses(table)["security group"] == "failed"
        assert "authorize-security-group-ingress" in table["security group"]["next"]
        for step in ["credentials and region", "key pair", "image", "instance types", "volume", "launch (dry run)"]:
            assert statuses(table)[step] == "ok", (step, table[step])
        assert "dry run" in table["launch (dry run)"]["found"]
        assert statuses(table)["instance"] == "ok" and "no instance" in table["instance"]["found"]
        assert statuses(table)["TCP connect"] == "skipped"
        assert "costs money" in table["TCP connect"]["found"]
        assert "%crimpl server start chk" in table["instance address"]["next"]
        assert moto.live_instances() == []
    finally:
        delete_volume(kernel)


def test_aws_checks_the_running_instance_over_ssh(cloud, workdir, config_dir):
    _, sshd = cloud
    rule = {"IpProtocol": "tcp", "FromPort": sshd.port, "ToPort": sshd.port, "IpRanges": [{"CidrIp": "127.0.0.0/8"}]}
    kernel = aws_server(cloud, workdir, config_dir, [rule], "private")
    try:
        assert kernel.execute("%crimpl server start chk", timeout=120).ok
        checked = kernel.execute("%crimpl server check chk", timeout=120)
        assert checked.ok, checked.error
        table = check_table(checked)
        assert set(statuses(table).values()) == {"ok"}, table
        assert "private address" in table["subnet"]["found"]
        assert f"port {sshd.port} in from 127.0.0.0/8" in table["security group"]["found"]
        assert f"{TEST_USER}@127.0.0." in table["instance address"]["found"]
        assert "mounted" in table["volume mounted"]["found"]
    finally:
        delete_volume(kernel)
