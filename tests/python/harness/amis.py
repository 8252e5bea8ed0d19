"""The image catalogue moto serves (`MOTO_AMIS_PATH`): what a region's
DescribeImages shows of Canonical's Ubuntu images, with the traps a
"newest Ubuntu" lookup falls into: newer non-LTS releases, an older LTS
rebuilt last, instance-store and paravirtual images, a pending image, an
image of another owner named like Canonical's, and arm64 images.

`LATER` is a newer 24.04 build, disabled (EC2's DisableImage) when moto
starts: a test enables it to play "Canonical published a new image"."""
from __future__ import annotations

import json

CANONICAL = "099720109477"

# The images a server must pin, by architecture.
NOBLE = {"x86_64": "ami-0aa0000000000a001", "arm64": "ami-0aa0000000000b001"}
# A newer 24.04 x86_64 build, published (enabled) by the test that needs it.
LATER = "ami-0aa0000000000a002"
# An old image other tests launch as "not crimpl's" (kept from moto's own list).
TRUSTY = "ami-1e749f67"


def _image(ami_id, name, created, arch="x86_64", owner=CANONICAL, root="ebs", virtualization="hvm", state="available"):
    return {
        "ami_id": ami_id, "name": name, "description": name, "owner_id": owner, "public": True,
        "virtualization_type": virtualization, "architecture": arch, "state": state, "platform": None,
        "image_type": "machine", "hypervisor": "xen", "root_device_name": "/dev/sda1",
        "root_device_type": root, "sriov": "simple", "creation_date": created,
    }


def _ubuntu(ami_id, release, arch, build, **kind):
    word = {"x86_64": "amd64", "arm64": "arm64"}[arch]
    disk = "hvm-instance" if kind.get("root") == "instance-store" else "hvm-ssd-gp3"
    name = f"ubuntu/images/{disk}/ubuntu-{release}-{word}-server-{build}"
    created = f"{build[:4]}-{build[4:6]}-{build[6:8]}T10:00:00.000Z"
    return _image(ami_id, name, created, arch=arch, **kind)


CATALOGUE = [
    # What must be chosen: the newest available 24.04 EBS HVM build of each architecture.
    _ubuntu(NOBLE["x86_64"], "noble-24.04", "x86_64", "20261001"),
    _ubuntu(NOBLE["arm64"], "noble-24.04", "arm64", "20261001"),
    # Older 24.04 builds (one of the old "hvm-ssd" naming).
    _image("ami-0aa0000000000a000", "ubuntu/images/hvm-ssd/ubuntu-noble-24.04-amd64-server-20240423",
           "2024-04-23T10:00:00.000Z"),
    _ubuntu("ami-0aa0000000000b000", "noble-24.04", "arm64", "20250115"),
    # Newer, but not 24.04: non-LTS releases, and 22.04 rebuilt last.
    _ubuntu("ami-0bb0000000000a001", "oracular-24.10", "x86_64", "20261101"),
    _ubuntu("ami-0bb0000000000a002", "plucky-25.04", "x86_64", "20261102"),
    _ubuntu("ami-0bb0000000000b001", "plucky-25.04", "arm64", "20261102"),
    _ubuntu("ami-0cc0000000000a001", "jammy-22.04", "x86_64", "20261110"),
    _ubuntu("ami-0cc0000000000b001", "jammy-22.04", "arm64", "20261110"),
    # Newer 24.04, but not launchable as crimpl needs: instance-store, paravirtual, pending.
    _ubuntu("ami-0dd0000000000a001", "noble-24.04", "x86_64", "20261112", root="instance-store"),
    _image("ami-0dd0000000000a002", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261113",
           "2026-11-13T10:00:00.000Z", virtualization="paravirtual"),
    _ubuntu("ami-0dd0000000000a003", "noble-24.04", "x86_64", "20261114", state="pending"),
    _ubuntu("ami-0dd0000000000b001", "noble-24.04", "arm64", "20261112", root="instance-store"),
    # Named like Canonical's newest, owned by someone else.
    _ubuntu("ami-0ee0000000000a001", "noble-24.04", "x86_64", "20261120", owner="111122223333"),
    # Published later (disabled at first): the newest real 24.04 x86_64 build.
    _ubuntu(LATER, "noble-24.04", "x86_64", "20261115"),
    _image(TRUSTY, "ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-20170727", "2017-07-27T10:00:00.000Z"),
]


def write_catalogue(path) -> str:
    """Write the catalogue as moto reads it; returns the path."""
    path.write_text(json.dumps(CATALOGUE, indent=1))
    return str(path)
