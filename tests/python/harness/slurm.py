"""A real single-node Slurm cluster for the tests: munged, slurmctld and
slurmd started here with a private configuration (state, spool, pid and
log files in a temporary directory), and stopped again with nothing left."""
from __future__ import annotations

import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
import time

from .sshd import free_port

CONFIG = """\
ClusterName=crimpltest
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/slurmctld.log
SlurmdLogFile={base}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=localhost CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class Slurm:
    """A running single-node cluster; `env` points Slurm's commands at it."""

    def __init__(self):
        # Slurm's commands run as the test user and must read the config:
        # keep it out of pytest's private (0700) temporary tree.
        self.base = base = pathlib.Path(tempfile.mkdtemp(prefix="crimpl-slurm-"))
        for sub in ("state", "spool"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        self.conf = base / "slurm.conf"
        self.conf.write_text(CONFIG.format(base=base, ctld_port=free_port(), slurmd_port=free_port()))
        self.conf.chmod(0o644)
        base.chmod(0o755)
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.processes: list[subprocess.Popen] = []
        self.munged: int | None = None
        self.start_munge()
        self.processes.append(self.daemon(["slurmctld", "-D", "-f", str(self.conf)], "slurmctld.out"))
        self.processes.append(self.daemon(["slurmd", "-D", "-f", str(self.conf)], "slurmd.out"))
        self.wait_idle()

    def daemon(self, argv: list[str], log: str) -> subprocess.Popen:
        return subprocess.Popen(argv, env=self.env, stdout=open(self.base / log, "w"), stderr=subprocess.STDOUT)

    def start_munge(self) -> None:
        if not pathlib.Path("/etc/munge/munge.key").exists():
            subprocess.run(["mungekey", "-c"], check=True)
        munge = pwd.getpwnam("munge")
        for path in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
            os.makedirs(path, exist_ok=True)
            os.chown(path, munge.pw_uid, munge.pw_gid)
        os.chown("/etc/munge/munge.key", munge.pw_uid, munge.pw_gid)
        subprocess.run(["pkill", "-x", "munged"], check=False)
        subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True)
        self.munged = int(pathlib.Path("/run/munge/munged.pid").read_text())

    def run(self, *argv: str) -> str:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=True).stdout

    def wait_idle(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        state = ""
        while time.monotonic() < deadline:
            try:
                state = self.run("sinfo", "--noheader", "--format=%T").strip()
            except subprocess.CalledProcessError:
                state = ""
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"Slurm node not idle (state {state!r}); see {self.base}/slurmctld.log")

    def stop(self) -> None:
        """Cancel every job, wait for the queue to drain, stop the daemons."""
        subprocess.run(["scancel", "--full", "--user=crimpltest"], env=self.env, check=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.run("squeue", "--noheader").strip():
            time.sleep(0.5)
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        subprocess.run(["pkill", "-KILL", "-x", "slurmstepd"], check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        if self.munged is not None:
            try:
                os.kill(self.munged, 15)
            except ProcessLookupError:
                pass
