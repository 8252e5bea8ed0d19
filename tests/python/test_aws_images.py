"""One image per AWS server: at `server new` the newest Ubuntu 24.04 LTS
image of each architecture is pinned (moto serves the harness's catalogue of
Ubuntu releases and traps, harness/amis.py); every instance launches from it,
arm64 types from the arm64 one, until `server update-image`, also after
Canonical publishes a newer build."""
from __future__ import annotations

import uuid

import pytest

from harness import amis, backends
from kernel_helpers import Kernel, kernel_env

pytestmark = pytest.mark.system  # a test user, sshd as root


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with backends.aws_cloud(tmp_path_factory.mktemp("aws-images"), "crimpl-aws-images") as pair:
        yield pair


def launched_images(moto, **tags) -> list[str]:
    """The images of the instances with these crimpl tags, oldest launch first."""
    filters = [{"Name": f"tag:crimpl.{key}", "Values": [value]} for key, value in tags.items()]
    found = [i for r in moto.ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]
    return [i["ImageId"] for i in sorted(found, key=lambda i: i["LaunchTime"])]


def pinned(moto, name) -> dict[str, str]:
    (volume,) = [v for v in moto.volumes() if {"Key": "crimpl.server_name", "Value": name} in v.get("Tags", [])]
    return {t["Key"].removeprefix("crimpl.image."): t["Value"] for t in volume["Tags"] if t["Key"].startswith("crimpl.image.")}


def test_each_architecture_gets_the_pinned_ubuntu_lts_until_update_image(cloud, workdir, config_dir, tmp_path):
    moto, sshd = cloud
    env = kernel_env(config_dir, home=sshd.home)
    env.update(moto.env())
    kernel = Kernel(workdir, env)
    name = f"img{uuid.uuid4().hex[:6]}"
    new_server = backends.new_aws_server(moto, sshd, name, f"~/crimpl-aws/{name}", volume_size=1)
    x86, arm = amis.NOBLE["x86_64"], amis.NOBLE["arm64"]
    try:
        made = kernel.execute(new_server + f"\n%crimpl server use {name}")
        assert made.ok, made.error
        # Not the newer 24.10/25.04, the 22.04 rebuilt last, instance-store, paravirtual,
        # pending or someone else's image: the newest Canonical 24.04 EBS HVM build.
        assert f"Pinned {x86} (ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261001, x86_64)" in made.text
        assert f"{arm} (ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261001, arm64)" in made.text
        assert pinned(moto, name) == {"x86_64": x86, "arm64": arm}
        assert f"{x86} (x86_64)" in kernel.execute("%crimpl server show").text

        # The server instance (t2.micro) and an x86_64 job (c6i) launch from the x86_64 image...
        assert kernel.execute("%crimpl server start", timeout=120).ok
        assert launched_images(moto, level="server") == [x86]
        # ...an arm64 type (EC2 says so: DescribeInstanceTypes) from the arm64 image.
        job = kernel.execute("%%crimpl submit --job graviton --instance-type c7g.large --wait\nuname -s\n", timeout=180)
        assert job.ok, job.error
        assert f"Launching a c7g.large job instance from {arm}" in job.text
        assert launched_images(moto, job_name="graviton") == [arm]

        # Canonical publishes a newer 24.04 build: the server keeps its pinned image...
        moto.ec2.enable_image(ImageId=amis.LATER)
        job = kernel.execute("%%crimpl submit --job later --nprocs 2 --wait\ntrue\n", timeout=180)
        assert job.ok, job.error
        assert launched_images(moto, job_name="later") == [x86]
        # ...and so does another kernel that finds the server by its volume.
        other = Kernel(tmp_path, {**kernel_env(tmp_path / "other-config", home=sshd.home), **moto.env()})
        try:
            found = other.execute(new_server)
            assert found.ok, found.error
            assert "pinned on the volume" in found.text and amis.LATER not in found.text
        finally:
            other.shutdown()

        # update-image says old -> new, but not while an instance would keep the old image.
        assert kernel.execute("%crimpl server start", timeout=120).ok
        (server_instance,) = moto.live_instances()
        refused = kernel.execute("%crimpl server update-image")
        assert not refused.ok and f"x86_64: {x86} -> {amis.LATER}" in refused.error
        assert server_instance["InstanceId"] in refused.error and "Nothing changed" in refused.error
        assert pinned(moto, name)["x86_64"] == x86
        assert kernel.execute("%crimpl server terminate", timeout=120).ok
        updated = kernel.execute("%crimpl server update-image")
        assert updated.ok, updated.error
        assert f"x86_64: {x86} -> {amis.LATER}" in updated.text and "arm64:" not in updated.text.split("Pinned")[0]
        assert pinned(moto, name) == {"x86_64": amis.LATER, "arm64": arm}
        assert f"{amis.LATER} (x86_64)" in kernel.execute("%crimpl server show").text
        again = kernel.execute("%crimpl server update-image")
        assert again.ok and "nothing changed" in again.text
        assert kernel.execute("%crimpl server start", timeout=120).ok
        assert launched_images(moto, level="server")[-1] == amis.LATER

        # --image-id on a submit launches that job from another image, pinning nothing.
        job = kernel.execute(f"%%crimpl submit --job custom --nprocs 2 --image-id {amis.TRUSTY} --wait\ntrue\n", timeout=180)
        assert job.ok, job.error
        assert launched_images(moto, job_name="custom") == [amis.TRUSTY]
        assert pinned(moto, name)["x86_64"] == amis.LATER
    finally:
        moto.ec2.disable_image(ImageId=amis.LATER)
        cleanup = kernel.execute(f"%crimpl server delete-volume {name} --yes", timeout=120)
        kernel.shutdown()
    assert cleanup.ok, cleanup.error


def test_a_chosen_image_is_pinned_for_its_architecture_only(cloud, workdir, config_dir):
    moto, sshd = cloud
    env = kernel_env(config_dir, home=sshd.home)
    env.update(moto.env())
    kernel = Kernel(workdir, env)
    name = f"own{uuid.uuid4().hex[:6]}"
    try:
        made = kernel.execute(
            f"%crimpl server new aws {name} --key-file ~/.ssh/id_ed25519 --subnet-id {moto.subnet_id} "
            f"--security-group-id {moto.security_group_id} --image-id {amis.TRUSTY} --volume-size 1"
        )
        assert made.ok, made.error
        assert pinned(moto, name) == {"x86_64": amis.TRUSTY}
        # An arm64 job cannot use it, and is told what to do before anything launches.
        refused = kernel.execute(f"%%crimpl submit --server {name} --instance-type t4g.small\ntrue\n", timeout=60)
        assert not refused.ok and "--image-id of an arm64 image" in refused.error
        assert moto.live_instances() == []
        missing = kernel.execute(
            f"%crimpl server new aws nosuch --key-file ~/.ssh/id_ed25519 --subnet-id {moto.subnet_id} "
            f"--security-group-id {moto.security_group_id} --image-id ami-0123456789abcdef0"
        )
        assert not missing.ok and "ami-0123456789abcdef0" in missing.error
        assert [v for v in moto.volumes() if "nosuch" in str(v.get("Tags"))] == []
    finally:
        cleanup = kernel.execute(f"%crimpl server delete-volume {name} --yes", timeout=120)
        kernel.shutdown()
    assert cleanup.ok, cleanup.error
