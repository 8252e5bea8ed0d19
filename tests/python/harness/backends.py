"""Every server kind behind one interface, for tests written once and run
against each: what the kernel's environment needs, the `server new` cell,
and what to clean up. The daemons (sshd, Slurm, moto) are started by the
context managers here and always stopped, leaving nothing behind."""
from __future__ import annotations

import contextlib
import pathlib
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .more_addresses import MoreAddresses
from .moto import INSTANCE_ADDRESSES, Moto
from .slurm import Slurm
from .sshd import TEST_USER, Sshd, running

#: Under the test user's home: where the remote kinds keep their servers.
DIRECTORY = "crimpl-cycle-tests"


@dataclass
class Backend:
    """One server kind, ready for kernels to use."""

    kind: str
    #: Extra environment for a kernel (HOME with its ~/.ssh, AWS settings).
    env: dict[str, str] = field(default_factory=dict)
    #: The `%crimpl server new` line for a server called `name`, given a
    #: fresh local directory the local kind may use.
    new_server: Callable[[str, pathlib.Path], str] = lambda name, path: ""
    #: The cell that removes the server's cloud resources (AWS), if any.
    cleanup: Callable[[str], str | None] = lambda name: None
    #: Whether `resubmit` runs a job again in place (not on AWS, where each
    #: job has its own instance).
    resubmits: bool = True
    #: The cell that makes an ended job's files readable by `ls` and `log`
    #: (AWS: the server instance, which `fetch` would start by itself), if any.
    reach_files: Callable[[str], str | None] = lambda name: None
    #: How many commands the server's sshd has run so far (kinds reached
    #: over SSH), for counting what polling costs.
    commands_run: Callable[[], int] | None = None


def local() -> Backend:
    return Backend(
        kind="local",
        new_server=lambda name, path: f"%crimpl server new local {name} --directory {path}",
    )


@contextlib.contextmanager
def ssh(base: pathlib.Path) -> Iterator[Backend]:
    with running(base / "sshd", DIRECTORY) as sshd:
        sshd.trust_host_key()
        yield Backend(
            kind="ssh",
            env={"HOME": str(sshd.home)},
            new_server=lambda name, _: (
                f"%crimpl server new ssh {name} --host {sshd.host_alias} "
                f"--directory ~/{DIRECTORY}/{uuid.uuid4().hex[:8]}"
            ),
            commands_run=sshd.sessions_started,
        )


@contextlib.contextmanager
def slurm(base: pathlib.Path) -> Iterator[Backend]:
    cluster = Slurm()
    try:
        path = f"{cluster.bin}:/usr/local/bin:/usr/bin:/bin"
        sshd = Sshd(base / "sshd-slurm", extra_config=f"SetEnv SLURM_CONF={cluster.conf} PATH={path}\n")
    except BaseException:
        cluster.stop()
        raise
    try:
        yield Backend(
            kind="slurm",
            env={"HOME": str(sshd.home)},
            new_server=lambda name, _: (
                f"%crimpl server new slurm {name} --host {sshd.host_alias} "
                f"--directory ~/{DIRECTORY}/{uuid.uuid4().hex[:8]}"
            ),
            commands_run=sshd.sessions_started,
        )
    finally:
        cluster.stop()
        sshd.stop()
        sshd.cleanup_user(DIRECTORY)


@contextlib.contextmanager
def aws_cloud(base: pathlib.Path, *directories: str, last_address: int = 120) -> Iterator[tuple[Moto, Sshd]]:
    """moto for the EC2 API and this machine's sshd standing in for the
    instances (at moto's 127.0.0.x private addresses); afterwards nothing may
    be left: no instance, no volume, no test user's `directories`."""
    moto = Moto(base / "moto.log")
    try:
        sshd = Sshd(base / "sshd-aws", listen=INSTANCE_ADDRESSES)
    except BaseException:
        moto.stop()
        raise
    more = None
    try:
        # moto never reuses an address: each instance takes a new one.
        more = MoreAddresses([f"127.0.0.{i}" for i in range(19, last_address)], sshd.port)
        moto.import_key("crimpl-test", (sshd.home / ".ssh" / "id_ed25519.pub").read_text())
        yield moto, sshd
        leftovers = (moto.live_instances(), moto.volumes())
    finally:
        if more is not None:
            more.stop()
        moto.stop()
        sshd.stop()
        sshd.cleanup_user(*directories)
    assert leftovers == ([], []), f"instances or volumes left behind: {leftovers}"


def new_aws_server(moto: Moto, sshd: Sshd, name: str, directory: str, volume_size: int = 8) -> str:
    """The `server new aws` line for `name` in moto, its instances reached at
    sshd in `directory`. moto runs no boot script: the volume's mount marker
    is made there by hand."""
    sshd.run_as_user(f"mkdir -p {directory} && touch {directory}/.crimpl-volume")
    return (
        f"%crimpl server new aws {name} --key-file ~/.ssh/id_ed25519 --subnet-id {moto.subnet_id} "
        f"--security-group-id {moto.security_group_id} --username {TEST_USER} --ssh-address private "
        f"--ssh-port {sshd.port} --directory {directory} --volume-size {volume_size}"
    )


@contextlib.contextmanager
def aws(base: pathlib.Path) -> Iterator[Backend]:
    with aws_cloud(base, DIRECTORY) as (moto, sshd):

        yield Backend(
            kind="aws",
            env={"HOME": str(sshd.home), **moto.env()},
            new_server=lambda name, _: new_aws_server(moto, sshd, name, f"~/{DIRECTORY}/{name}"),
            cleanup=lambda name: f"%crimpl server delete-volume {name} --yes",
            resubmits=False,
            reach_files=lambda name: f"%crimpl server start {name}",
        )


#: Each kind's context manager, by name (local needs no daemon).
STARTERS = {
    "local": lambda base: contextlib.nullcontext(local()),
    "ssh": ssh,
    "slurm": slurm,
    "aws": aws,
}
