"""Any subnet and group, and instance types that exist where the volume is:
`server new aws` checks the security group's SSH rule, launches ask for a
public address where the subnet maps none, and the subnet's zone's offerings
(moto's copy of AWS's per-zone data) choose the types, falling back from
t2.micro and the c6i family and saying so, or naming what the zone offers.
moto alone (no sshd, no root)."""
from __future__ import annotations

import time

import boto3
import pytest

from harness.moto import Moto
from kernel_helpers import Kernel, kernel_env


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    moto = Moto(tmp_path_factory.mktemp("aws-network") / "moto.log")
    yield moto
    leftovers = (moto.live_instances(), moto.volumes())
    moto.stop()
    assert leftovers == ([], []), f"instances or volumes left behind: {leftovers}"


def network(moto, region: str, zone: str) -> tuple[str, str]:
    """A subnet in `zone` of `region`, and a security group of its VPC."""
    ec2 = boto3.client("ec2", **{**moto.client_settings(), "region_name": region})
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"zone-{zone}", Description="t", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.7/32"}]}])
    return subnet, group


def kernel_in(moto, region, workdir, config_dir) -> Kernel:
    env = kernel_env(config_dir)
    env.update(moto.env())
    env["AWS_REGION"] = region
    (workdir / "key").write_text("not used: nothing is launched\n")
    return Kernel(workdir, env)


def new_server(name, subnet, group) -> str:
    return f"%crimpl server new aws {name} --key-file key --subnet-id {subnet} --security-group-id {group} --volume-size 1"


def test_types_fall_back_to_what_the_zone_offers_and_say_so(moto, workdir, config_dir):
    # eu-central-2a offers t3.micro but not t2.micro, and c7i (but no c7i.32xlarge), no c6i or c6a.
    subnet, group = network(moto, "eu-central-2", "eu-central-2a")
    kernel = kernel_in(moto, "eu-central-2", workdir, config_dir)
    try:
        made = kernel.execute(new_server("zoned", subnet, group) + "\n%crimpl server use zoned")
        assert made.ok, made.error
        assert "t2.micro is not offered in eu-central-2a: the server instance is a t3.micro." in made.text
        assert ("c6i is not offered in eu-central-2a: job instances are c7i.large to c7i.24xlarge "
                "(c7i.32xlarge not offered there).") in made.text
        assert "t3.micro (server)" in kernel.execute("%crimpl server show").text
        plan = kernel.execute("%%crimpl submit --trial-run --nprocs 8\ntrue\n")
        assert plan.ok and "a new c7i.2xlarge job instance" in plan.text, plan.error
        too_many = kernel.execute("%%crimpl submit --trial-run --nprocs 100\ntrue\n")
        assert not too_many.ok and "no job type offered in eu-central-2a has 100 vCPUs" in too_many.error
        assert "c7i.24xlarge" in too_many.error
        deleted = kernel.execute("%crimpl server delete-volume zoned --yes", timeout=120)
        assert deleted.ok, deleted.error
    finally:
        kernel.shutdown()


@pytest.mark.parametrize("region,zone,missing,offered", [
    # No t2/t3/t3a micro at all.
    ("me-central-1", "me-central-1a", "none of t2.micro, t3.micro, t3a.micro for the server instance", "m6g.medium"),
    # t2.micro, but none of the job families.
    ("us-east-1", "us-east-1e", "none of the c6i, c6a, c7i families for job instances", "c4.large"),
])
def test_a_zone_without_them_names_what_it_offers_and_makes_nothing(moto, workdir, config_dir, region, zone, missing, offered):
    subnet, group = network(moto, region, zone)
    kernel = kernel_in(moto, region, workdir, config_dir)
    try:
        refused = kernel.execute(new_server("nowhere", subnet, group))
        assert not refused.ok and f"{zone} offers {missing}" in refused.error
        assert "it offers" in refused.error and offered in refused.error and "another zone" in refused.error
        assert kernel.alive()
    finally:
        kernel.shutdown()
    assert moto.volumes() == []


def test_a_group_without_the_ssh_port_is_refused_saying_what_to_add(moto, workdir, config_dir):
    vpc = moto.ec2.describe_subnets(SubnetIds=[moto.subnet_id])["Subnets"][0]["VpcId"]
    group = moto.ec2.create_security_group(GroupName="web-only", Description="t", VpcId=vpc)["GroupId"]
    moto.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    kernel = kernel_in(moto, "us-east-1", workdir, config_dir)
    try:
        refused = kernel.execute(new_server("closed", moto.subnet_id, group) + " --ssh-port 2222")
        assert not refused.ok
        assert f"security group {group} lets no inbound TCP connection to port 2222 in" in refused.error
        assert f"aws ec2 authorize-security-group-ingress --group-id {group} --protocol tcp --port 2222" in refused.error
        assert "nothing was made" in refused.error
    finally:
        kernel.shutdown()
    assert moto.volumes() == []


def test_a_spread_sweep_is_refused_before_any_launch_when_the_group_admits_only_the_laptop(moto, workdir, config_dir):
    """`server new` takes a group that lets SSH in from the user's address
    only; the job instance reaches a sweep's helpers at their private
    addresses, which such a group drops: K-1 instances would be billed idle."""
    subnet, group = network(moto, "us-east-1", "us-east-1b")
    kernel = kernel_in(moto, "us-east-1", workdir, config_dir)
    try:
        made = kernel.execute(new_server("laptop", subnet, group) + "\n%crimpl server use laptop")
        assert made.ok, made.error
        refused = kernel.execute("%%crimpl submit --job spread --array 1-4 --instances 2\necho hi\n")
        assert not refused.ok
        assert f"security group {group} does not let its own instances reach each other on port 22" in refused.error
        assert f"--source-group {group}" in refused.error and "nothing was launched" in refused.error, refused.error
        assert moto.live_instances() == []
        assert kernel.execute("%crimpl server delete-volume laptop --yes", timeout=120).ok
    finally:
        kernel.shutdown()


def test_a_subnet_that_maps_no_public_address_gets_instances_with_one(moto, workdir, config_dir):
    (subnet,) = moto.ec2.describe_subnets(SubnetIds=[moto.subnet_id])["Subnets"]
    assert subnet["MapPublicIpOnLaunch"] is False and subnet["DefaultForAz"] is False
    moto.ec2.create_key_pair(KeyName="key")
    kernel = kernel_in(moto, "us-east-1", workdir, config_dir)
    try:
        made = kernel.execute(new_server("public", moto.subnet_id, moto.security_group_id))
        assert made.ok, made.error
        assert f"Subnet {moto.subnet_id} maps no public IPv4 address: instances ask for one at launch" in made.text
        # The launch asks for a public address; the kernel then waits for SSH on it (which
        # nothing here answers: the test reads the wait, then ends the kernel).
        msg_id = kernel.kc.execute("%crimpl server start public")
        said, deadline = "", time.monotonic() + 120
        while "Waiting for " not in said and time.monotonic() < deadline:
            said += "".join(m["content"].get("text", "") for m in kernel.iopub_for(msg_id, 1))
        (instance,) = moto.live_instances()
        assert instance["PublicIpAddress"] and instance["SubnetId"] == moto.subnet_id
        (interface,) = instance["NetworkInterfaces"]
        assert interface["Association"]["PublicIp"] == instance["PublicIpAddress"]
        assert [g["GroupId"] for g in interface["Groups"]] == [moto.security_group_id]
        assert f"Waiting for {instance['PublicIpAddress']} to boot" in said, said
    finally:
        kernel.restart()  # ends the wait
        deleted = kernel.execute("%crimpl server delete-volume public --yes", timeout=120)
        kernel.shutdown()
    assert deleted.ok, deleted.error
