"""A real single-node Slurm cluster for the tests, private to the run:
its own munged (own key, socket, pid, log and seed files), slurmctld and
slurmd on high ports, with state, spool, pid and log files in one
directory under the run's temporary root. Nothing of the machine's own
munge or Slurm is read, stopped or restarted, and `stop()` ends only the
daemons it started and the job steps they spawned (processes holding the
cluster's directory, and their descendants), never processes by name."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from . import processes, system
from .ledger import LEDGER
from .sshd import free_port

CONFIG = """\
ClusterName=crimpltest
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
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
MinJobAge=2
MaxArraySize=11
EnforcePartLimits=ALL
KillWait=2
JobRequeue=1
NodeName=localhost CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=localhost MaxTime=1 State=UP
PartitionName=hidden Nodes=localhost Hidden=YES MaxTime=INFINITE State=UP
"""


class Slurm:
    """A running single-node cluster; `env` points Slurm's commands at it."""

    def __init__(self):
        system.require()
        # Slurm's commands run as the test user and must read the configuration
        # and reach munged's socket: 0755 here, in a root others may traverse.
        self.base = base = pathlib.Path(tempfile.mkdtemp(prefix="slurm-", dir=LEDGER.temp_root()))
        base.chmod(0o755)
        for sub in ("state", "spool", "munge"):
            (base / sub).mkdir(mode=0o755)
        self.munge_socket = base / "munge" / "munge.socket"
        self.conf = base / "slurm.conf"
        self.conf.write_text(CONFIG.format(
            base=base, ctld_port=free_port(), slurmd_port=free_port(), munge_socket=self.munge_socket))
        self.conf.chmod(0o644)
        # A squeue that logs each call, for the tests that count them (put
        # first on the test user's PATH by the tests' sshd).
        self.bin = base / "bin"
        self.bin.mkdir(mode=0o755)
        self.squeue_log = base / "squeue.log"
        self.squeue_log.touch(mode=0o666)
        self.squeue_log.chmod(0o666)
        wrapper = self.bin / "squeue"
        wrapper.write_text(f"#!/bin/sh\necho \"$*\" >> {self.squeue_log}\nexec {shutil.which('squeue')} \"$@\"\n")
        wrapper.chmod(0o755)
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.processes: list[subprocess.Popen] = []
        LEDGER.started(self)
        try:
            self.start_munge()
            self.processes.append(self.daemon(["slurmctld", "-D", "-f", str(self.conf)], "slurmctld.out"))
            self.processes.append(self.daemon(["slurmd", "-D", "-f", str(self.conf)], "slurmd.out"))
            self.wait_idle()
        except BaseException:
            self.stop()
            raise

    def describe(self) -> str:
        return f"Slurm cluster (munged, slurmctld, slurmd) in {self.base}"

    def daemon(self, argv: list[str], log: str) -> subprocess.Popen:
        with open(self.base / log, "w") as out:
            return subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def start_munge(self) -> None:
        """munged in the foreground (so its pid is the one started here), as root,
        with a key made for this cluster alone."""
        munge = self.base / "munge"
        key = munge / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
        self.processes.append(self.daemon([
            "munged", "--foreground", f"--socket={self.munge_socket}", f"--key-file={key}",
            f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}",
        ], "munged.out"))
        deadline = time.monotonic() + 20
        while not self.munge_socket.exists():
            if self.processes[-1].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"munged did not start; see {self.base / 'munged.out'}")
            time.sleep(0.05)

    def squeue_calls(self) -> int:
        """How many times the test user's squeue (the logging one) ran."""
        return len(self.squeue_log.read_text().splitlines())

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

    def cancel_all(self) -> None:
        """Cancel every job of this (private) cluster and wait for the queue to drain."""
        try:
            jobs = self.run("squeue", "--noheader", "--format=%i").split()
            if jobs:
                subprocess.run(["scancel", "--full", *jobs], env=self.env, check=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.run("squeue", "--noheader").strip():
                time.sleep(0.5)
        except (subprocess.CalledProcessError, OSError):
            pass  # slurmctld is not answering: the job steps are ended below all the same

    def stop(self) -> None:
        """Cancel every job, stop slurmd and slurmctld, end the job steps they left,
        stop munged, remove the cluster's directory."""
        if len(self.processes) > 1 and self.processes[1].poll() is None:
            self.cancel_all()
        munged, slurm_daemons = self.processes[:1], self.processes[1:]
        for process in reversed(slurm_daemons):
            stop_child(process)
        # slurmstepd detaches from slurmd (double fork): it and the job's tasks are
        # found by what they hold open here (slurmd's log, the spool, the job script).
        processes.end(self.own_processes(exclude=[p.pid for p in munged]))
        for process in munged:
            stop_child(process)
        self.processes.clear()
        leftover = processes.end(self.own_processes())
        LEDGER.stopped(self)
        if leftover:
            raise RuntimeError(f"processes of the test cluster outlived SIGKILL: {[p.pid for p in leftover]}")
        shutil.rmtree(self.base, ignore_errors=True)

    def own_processes(self, exclude: list[int] = ()) -> list[int]:
        """The processes holding this cluster's directory, and their descendants."""
        now = processes.snapshot()
        found = set()
        for pid in processes.holding(self.base, now):
            found.add(pid)
            found.update(processes.descendants(pid, now))
        return sorted(found - set(exclude))


def stop_child(process: subprocess.Popen) -> None:
    """TERM a daemon started here (a child: its pid cannot have been reused), then KILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
