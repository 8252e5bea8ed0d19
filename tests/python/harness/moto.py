"""The EC2 API served by moto on loopback, with a network whose instances'
private addresses (127.0.0.x) are loopback addresses of this machine, so an
sshd listening on them stands in for every "instance".

moto_server is a private instance: a child of the run on a high port of
127.0.0.1, its state in memory, its log beside the caller's files, with
dummy credentials; it needs no root and touches nothing of the system."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import boto3

from . import amis
from .ledger import LEDGER
from .sshd import free_port

# moto gives instances 127.0.0.4, .5, ... in the 127.0.0.0/24 subnet: an sshd
# listening on these (at most 16 addresses) answers for each "instance".
INSTANCE_ADDRESSES = ("127.0.0.1", *(f"127.0.0.{i}" for i in range(4, 19)))


class Moto:
    """A running moto_server and a boto3 client to inspect what the kernel did."""

    def __init__(self, log_path):
        self.port = free_port()
        server = os.path.join(os.path.dirname(sys.executable), "moto_server")
        self.log_path = log_path
        env = dict(os.environ)
        # Its images are the harness's catalogue (Ubuntu releases, builds and traps).
        env["MOTO_AMIS_PATH"] = amis.write_catalogue(log_path.parent / "amis.json")
        with open(log_path, "w") as log:
            self.process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(self.port)],
                                            stdout=log, stderr=subprocess.STDOUT, env=env)
        LEDGER.started(self)
        try:
            self.wait_listening()
            self.set_up_network()
        except BaseException:
            self.stop()
            raise

    def describe(self) -> str:
        return f"moto_server on port {self.port} (pid {self.process.pid})"

    def wait_listening(self) -> None:
        for _ in range(200):
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"moto_server did not start; see {self.log_path}")

    def set_up_network(self) -> None:
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.ec2 = boto3.client("ec2", **self.client_settings())
        vpc = self.ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
        # moto picks a random zone otherwise; us-east-1e (as in AWS) offers few types.
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]
        self.subnet_id = subnet["SubnetId"]
        self.zone = subnet["AvailabilityZone"]
        self.security_group_id = self.ec2.create_security_group(
            GroupName="crimpl-test", Description="ssh", VpcId=vpc)["GroupId"]
        # The "instances" are this machine's loopback addresses: TCP from there, any port.
        self.ec2.authorize_security_group_ingress(GroupId=self.security_group_id, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "127.0.0.0/8"}]}])
        # Canonical has not published it yet.
        self.ec2.disable_image(ImageId=amis.LATER)

    def client_settings(self) -> dict:
        return {"endpoint_url": self.endpoint, "region_name": "us-east-1",
                "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

    def client_in(self, region: str):
        """A boto3 EC2 client for another region of this moto (each region has its own resources)."""
        return boto3.client("ec2", **{**self.client_settings(), "region_name": region})

    def env(self) -> dict[str, str]:
        """What the kernel needs to reach this EC2 API through the standard settings."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def import_key(self, name: str, public_key: str) -> None:
        self.ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode())

    def live_instances(self) -> list[dict]:
        # Every page: moto, like EC2, pages its answer (at 100 reservations).
        pages = self.ec2.get_paginator("describe_instances").paginate()
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"]

    def volumes(self) -> list[dict]:
        return [v for page in self.ec2.get_paginator("describe_volumes").paginate() for v in page["Volumes"]]

    def stop(self) -> None:
        """Stop moto_server (a child of this process: its pid cannot have been reused)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        LEDGER.stopped(self)
