"""Benchmarks, printed as tables (figures, not pass/fail).

Kernel: start to first kernel_info_reply, execute round trip of a no-op
(`%crimpl help` here, `pass` for ipykernel) over 200 runs, resident memory.
Jobs: submit, status of one job, status of 100 jobs, fetch of 1000 small
files and of one 1 GiB file, on the local server and on an SSH server (a
private sshd on loopback, as in the tests), beside OpenSSH's own ssh/scp.
Connect: an SSH server made directly and through a jump host (a second
private sshd, ProxyJump), beside OpenSSH's `ssh HOST true`.
AWS EC2: the EC2 API calls each operation makes (waits included), counted by
the forwarder that gives moto_server real AWS's timing (tests/python/harness/
aws_timing.py; moto on loopback, the same sshd standing in for instances).
Sweeps: submit of a 1000-task array and the status of all its tasks (one
survey), on the local, SSH and Slurm servers of the tests (harness/backends).
Spread: an AWS sweep on one job instance and across `--instances 3` (moto,
this machine's sshd standing in for every instance): submit, and submit to
end as the kernel sees it.
Big output: the kernel's peak resident memory while a `%%crimpl run` prints
1 GiB, with every client reading, and with one more client that subscribes
to iopub and never reads.
Rust: start to the first Rust result, then medians of 30 `let yK = K;` cells
and 30 expression cells, beside evcxr_jupyter's kernel (`rust`), the two
alternating cell by cell; without evcxr_jupyter installed, this kernel alone
and the reason.

usage: .venv/bin/python scripts/bench.py [--quick] [--only SECTION ...]
(sections: kernel, rust, output, jobs, connect, aws, sweeps, spread; all by default)
"""
from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from jupyter_client.manager import KernelManager  # noqa: E402

from harness import backends  # noqa: E402
from harness.aws_timing import AwsTiming  # noqa: E402
from harness.moto import INSTANCE_ADDRESSES, Moto  # noqa: E402
from harness.sshd import TEST_USER, Sshd  # noqa: E402
from kernel_helpers import Kernel, kernel_env  # noqa: E402


def median_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_kernel(name: str, noop: str, runs: int, env: dict[str, str]) -> dict[str, float]:
    starts = []
    for _ in range(5):
        km = KernelManager(kernel_name=name)
        begin = time.perf_counter()
        km.start_kernel(env=env)
        kc = km.client()
        kc.start_channels()
        kc.kernel_info()
        kc.get_shell_msg(timeout=30)
        starts.append(time.perf_counter() - begin)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    km = KernelManager(kernel_name=name)
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    trips = []
    for _ in range(runs):
        begin = time.perf_counter()
        msg_id = kc.execute(noop)
        while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
            pass
        trips.append(time.perf_counter() - begin)
    memory = rss_mib(km.provisioner.process.pid)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    median, p95 = median_p95(trips)
    return {"start": statistics.median(starts), "median": median, "p95": p95, "rss": memory}


def rust_kernels() -> tuple[list[str], str | None]:
    """The kernels to compare Rust cells on, and why evcxr_jupyter's is left out."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "rust" in KernelSpecManager().find_kernel_specs():
        return ["crimpl", "rust"], None
    return ["crimpl"], ("evcxr_jupyter is not installed (cargo install --locked evcxr_jupyter "
                        "--version 0.22.0, then evcxr_jupyter --install)")


def bench_rust(names: list[str], cells: int, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per kernel: start to first Rust result, and medians of `let` and expression
    cells, the kernels alternating cell by cell (so both meet the same machine)."""
    kernels, figures = {}, {}
    try:
        for name in names:
            km = KernelManager(kernel_name=name)
            begin = time.perf_counter()
            km.start_kernel(env=env)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=60)
            reply = kc.execute_interactive("let y0 = 0;", timeout=600, output_hook=lambda msg: None)
            assert reply["content"]["status"] == "ok", reply["content"]
            figures[name] = {"start to first result": time.perf_counter() - begin}
            kernels[name] = (km, kc)
        trips: dict[str, dict[str, list[float]]] = {name: {"let": [], "expression": []} for name in names}
        for k in range(1, cells + 1):
            for kind, code in (("let", f"let y{k} = {k};"), ("expression", f"y{k - 1} + {k}")):
                for name in names:
                    kc = kernels[name][1]
                    begin = time.perf_counter()
                    reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
                    trips[name][kind].append(time.perf_counter() - begin)
                    assert reply["content"]["status"] == "ok", (name, code, reply["content"])
        for name in names:
            figures[name].update({kind: statistics.median(t) for kind, t in trips[name].items()})
    finally:
        for km, kc in kernels.values():
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return figures


def peak_rss_during(kernel: Kernel, code: str, timeout: float) -> tuple[float, float, object]:
    """Run `code`, sampling the kernel's RSS every 20 ms: (peak MiB, seconds, result)."""
    import threading

    pid = kernel.km.provisioner.process.pid
    peak = [rss_mib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    begin = time.perf_counter()
    try:
        result = kernel.execute(code, timeout=timeout)
    finally:
        done.set()
        sampler.join()
    return peak[0], time.perf_counter() - begin, result


def bench_big_output(scratch: pathlib.Path) -> list[tuple[str, float, float]]:
    """Peak kernel RSS while a run prints 1 GiB, with and without a client that never reads."""
    import zmq

    print_gib = "%%crimpl run\nhead -c 1073741824 /dev/zero | tr '\\0' 'x' | fold -w 127\n"
    rows = []
    for stuck in (False, True):
        workdir = scratch / f"big-{stuck}"
        workdir.mkdir()
        kernel = Kernel(workdir, kernel_env(scratch / f"config-big-{stuck}"))
        context = zmq.Context()
        try:
            must(kernel.execute(f"%crimpl server new local big --directory {workdir / 'server'}"))
            if stuck:
                sub = context.socket(zmq.SUB)
                sub.setsockopt(zmq.RCVHWM, 1)
                sub.setsockopt(zmq.RCVBUF, 4096)
                info = kernel.km.get_connection_info()
                sub.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
                sub.setsockopt(zmq.SUBSCRIBE, b"")
            peak, seconds, _ = peak_rss_during(kernel, print_gib, timeout=1800)
            rows.append(("a client not reading" if stuck else "every client reading", peak, seconds))
        finally:
            kernel.shutdown()
            context.destroy(linger=0)
    return rows


def timed(action, repeat: int, settle: bool = False) -> float:
    """Median wall time of `action`; with `settle`, dirty pages are written out before each run
    (so that a big fetch does not pay for the previous one's write-back)."""
    samples = []
    for i in range(repeat):
        if settle:
            os.sync()
        begin = time.perf_counter()
        action(i)
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples)


def must(result):
    if not result.ok:
        raise RuntimeError(result.error)
    return result


def bench_jobs(kernel: Kernel, server: str, workdir: pathlib.Path, repeat: int) -> dict[str, float]:
    figures = {}
    figures["submit"] = timed(lambda i: must(kernel.execute(f"%%crimpl submit --server {server} --job s{i}\nsleep 30\n")), repeat)
    figures["status of 1 job"] = timed(lambda i: must(kernel.execute(f"%crimpl status s0 --server {server}")), repeat * 3)
    for i in range(repeat):
        must(kernel.execute(f"%crimpl kill s{i} --server {server}"))
    must(kernel.execute(
        f"%%crimpl run --server {server}\n"
        "for i in $(seq 1 100); do mkdir -p crimpl-job-many$i; echo complete > crimpl-job-many$i/crimpl-job.status; done\n"
    ))
    figures["status of 100+ jobs"] = timed(lambda i: must(kernel.execute(f"%crimpl jobs --server {server}")), repeat * 3)
    must(kernel.execute(
        f"%%crimpl submit --server {server} --job small --wait\n"
        "mkdir out; i=0; while [ $i -lt 1000 ]; do echo $i > out/f$i.txt; i=$((i+1)); done\n"
    ))
    must(kernel.execute(f"%%crimpl submit --server {server} --job big --wait\nhead -c 1073741824 /dev/zero > big.bin\n"))

    def fetch(job: str, target: str):
        def action(i):
            shutil.rmtree(workdir / target, ignore_errors=True)
            must(kernel.execute(f"%crimpl fetch {job} --server {server} --to {target}", timeout=600))
        return action

    figures["fetch 1000 small files"] = timed(fetch("small", "small-files"), repeat)
    figures["fetch 1 GiB"] = timed(fetch("big", "big-file"), repeat, settle=True)
    shutil.rmtree(workdir / "big-file", ignore_errors=True)
    return figures


def bench_openssh(sshd: Sshd, directory: str, workdir: pathlib.Path, repeat: int) -> dict[str, float]:
    base = ["ssh", "-F", str(sshd.home / ".ssh" / "config"), "-o", f"UserKnownHostsFile={sshd.known_hosts}",
            "-i", str(sshd.home / ".ssh" / "id_ed25519")]
    scp = ["scp", "-q", "-F", str(sshd.home / ".ssh" / "config"), "-o", f"UserKnownHostsFile={sshd.known_hosts}",
           "-i", str(sshd.home / ".ssh" / "id_ed25519")]
    run = lambda argv: subprocess.run(argv, check=True, capture_output=True)  # noqa: E731
    figures = {}
    figures["status of 1 job"] = timed(
        lambda i: run(base + [sshd.host_alias, f"cat {directory}/crimpl-job-s0/crimpl-job.status"]), repeat * 3)
    figures["fetch 1000 small files"] = timed(
        lambda i: run(scp + ["-r", f"{sshd.host_alias}:{directory}/crimpl-job-small/out", str(workdir / f"scp-small{i}")]),
        repeat)
    figures["fetch 1 GiB"] = timed(
        lambda i: run(scp + [f"{sshd.host_alias}:{directory}/crimpl-job-big/big.bin", str(workdir / "scp-big.bin")]),
        repeat, settle=True)
    (workdir / "scp-big.bin").unlink(missing_ok=True)
    return figures


def bench_connect(kernel: Kernel, sshd: Sshd, scratch: pathlib.Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Connect time (`server new`: connect, log in, make the directory) to the sshd directly and
    through a second sshd as jump host (ProxyJump), beside OpenSSH's `ssh HOST true` and `ssh -J`."""
    jump = Sshd(scratch / "jump-sshd")
    try:
        sshd.authorize(sshd.client_pub)  # the jump sshd's set-up authorised its own key: one user, one key
        ssh_dir = sshd.home / ".ssh"
        with open(ssh_dir / "known_hosts", "a") as known:
            known.write(jump.known_hosts_line())
        config = (ssh_dir / "config").read_text()
        (ssh_dir / "config").write_text(
            # Absolute paths: OpenSSH's `ssh -J` runs the hop's ssh with -F but not -i or -o.
            config + f"Host crimpl-jump\n  HostName 127.0.0.1\n  Port {jump.port}\n  User {TEST_USER}\n"
            f"  IdentityFile {ssh_dir / 'id_ed25519'}\n  UserKnownHostsFile {sshd.known_hosts}\n"
            f"Host crimpl-via-jump\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {TEST_USER}\n"
            "  IdentityFile ~/.ssh/id_ed25519\n  ProxyJump crimpl-jump\n"
        )
        ssh = ["ssh", "-F", str(ssh_dir / "config"), "-o", f"UserKnownHostsFile={sshd.known_hosts}",
               "-i", str(ssh_dir / "id_ed25519")]
        figures = {}
        for label, host in (("direct", sshd.host_alias), ("through a jump host", "crimpl-via-jump")):
            name = label.split()[0]
            ours = timed(lambda i: must(kernel.execute(
                f"%crimpl server new ssh {name}{i} --host {host} --directory ~/crimpl-bench --replace")), repeat * 3)
            theirs = timed(lambda i: subprocess.run(ssh + [host, "true"], check=True, capture_output=True), repeat * 3)
            figures[label] = (ours, theirs)
        return figures
    finally:
        jump.stop()


def bench_aws(sshd: Sshd, scratch: pathlib.Path) -> list[tuple[str, dict[str, int]]]:
    """EC2 API calls per operation, waits included, with real AWS's timing."""
    moto = Moto(scratch / "moto.log")
    timing = AwsTiming(moto, seconds=3)
    moto.import_key("crimpl-bench", (sshd.home / ".ssh" / "id_ed25519.pub").read_text())
    directory = "~/crimpl-bench-aws"
    sshd.run_as_user(f"mkdir -p {directory} && touch {directory}/.crimpl-volume")
    workdir = scratch / "aws-notebook"
    workdir.mkdir()
    env = kernel_env(scratch / "aws-config", home=sshd.home)
    env.update(timing.env())
    kernel = Kernel(workdir, env)
    rows = []

    def count(label: str, code: str) -> None:
        timing.take_actions()
        must(kernel.execute(code, timeout=300))
        rows.append((label, timing.take_actions()))

    try:
        count("server new", f"%crimpl server new aws bench --key-file ~/.ssh/id_ed25519 --subnet-id {moto.subnet_id} "
              f"--security-group-id {moto.security_group_id} --username {TEST_USER} --ssh-address private "
              f"--ssh-port {sshd.port} --directory {directory}")
        must(kernel.execute("%crimpl server use bench"))
        count("server start (launch)", "%crimpl server start")
        count("aws cost (one region)", "%crimpl aws cost")
        count("aws instances --all-regions", "%crimpl aws instances --all-regions")
        count("submit --nprocs 8 --wait", "%%crimpl submit --job fit --nprocs 8 --wait\necho 42 > out.txt\n")
        count("status, no instance running", "%crimpl status fit")
        count("jobs, no instance running", "%crimpl jobs")
        count("fetch (starts the server instance)", "%crimpl fetch fit --to fetched")
        count("status, server instance running", "%crimpl status fit")
        count("server stop", "%crimpl server stop")
        count("server start (right after the stop)", "%crimpl server start")
        count("teardown (delete-volume)", "%crimpl server delete-volume bench --yes")
    finally:
        kernel.shutdown()
        leftovers = moto.live_instances() + moto.volumes()
        timing.stop()
        moto.stop()
        sshd.cleanup_user("crimpl-bench-aws")
    if leftovers:
        raise RuntimeError(f"the AWS bench left resources behind: {leftovers}")
    return rows


SECTIONS = ["kernel", "rust", "output", "jobs", "connect", "aws", "sweeps", "spread"]


def bench_spread(scratch: pathlib.Path) -> list[tuple[str, int, float, float]]:
    """AWS sweeps on one job instance and across three: (body, instances,
    submit s, submit to end s), one run each. The stand-in instances share
    this machine's CPUs, and each runs as many tasks at once as it has."""
    rows = []
    (scratch / "spread").mkdir()
    with backends.aws_cloud(scratch / "spread", "crimpl-bench-spread", ".crimpl-helper") as (moto, sshd):
        workdir = scratch / "spread-notebook"
        workdir.mkdir()
        env = kernel_env(scratch / "spread-config", home=sshd.home)
        env.update(moto.env())
        kernel = Kernel(workdir, env)
        try:
            must(kernel.execute(backends.new_aws_server(moto, sshd, "spread", "~/crimpl-bench-spread")))
            must(kernel.execute("%crimpl server use spread"))
            for n, (tasks, body) in enumerate([(12, "sleep 5"), (24, "true")]):
                for k in (1, 3):
                    job = f"s{n}k{k}"
                    start = time.monotonic()
                    must(kernel.execute(
                        f"%%crimpl submit --job {job} --array 1-{tasks} --instances {k} --nprocs 2\n{body}\n",
                        timeout=300))
                    submitted = time.monotonic() - start
                    must(kernel.execute(f"%crimpl wait {job}", timeout=600))
                    rows.append((f"{tasks} tasks of `{body}`", k, submitted, time.monotonic() - start))
            must(kernel.execute("%crimpl server delete-volume spread --yes", timeout=300))
        finally:
            kernel.shutdown()
    return rows


def bench_sweeps(scratch: pathlib.Path, repeat: int) -> dict[str, dict[str, float]]:
    """Per server kind: submit of a 1000-task array (the tasks held on Slurm,
    one at a time elsewhere, so that they barely load the machine; the disk
    written back before each, so no submit pays for the last one's 5000
    entries) and the status of the array with its 1000 tasks; then the
    polling cost. Every submit is measured before any server's files are
    deleted: ext4 skips inodes freed in the last minutes when it allocates
    new ones, so right after the bench deleted one kind's arrays, the next
    kind's 5000 new entries took up to 25 times as long to create."""
    figures = {}
    with contextlib.ExitStack() as stack:
        kernels = {}
        for kind in ("local", "ssh", "slurm"):
            base = scratch / f"sweeps-{kind}"
            base.mkdir()
            backend = stack.enter_context(backends.STARTERS[kind](base))
            workdir = base / "notebook"
            workdir.mkdir()
            env = kernel_env(base / "config")
            env.update(backend.env)
            kernel = Kernel(workdir, env)
            stack.callback(kernel.shutdown)
            hold = " --sbatch=--hold" if kind == "slurm" else " --max-parallel 1"
            kernels[kind] = (kernel, backend, hold)
            must(kernel.execute(backend.new_server("sweep", str(base / "server"))))
            submit = timed(lambda i: must(kernel.execute(
                f"%%crimpl submit --server sweep --job a{i} --array 1-1000{hold}\ntrue\n", timeout=120)),
                repeat, settle=True)
            status = timed(lambda i: must(kernel.execute("%crimpl status a0 --server sweep", timeout=120)),
                           repeat * 3)
            for i in range(repeat):
                kernel.execute(f"%crimpl kill a{i} --server sweep", timeout=120)
            figures[kind] = {"submit 1000 tasks": submit, "status of 1000 tasks": status}
        for kind, (kernel, backend, hold) in kernels.items():
            if backend.commands_run:
                figures[kind].update(polling_cost(kernel, backend.commands_run, hold))
    return figures


POLL_WINDOW = 30.0
#: Seconds from the last submit to the window: watchers poll fast at first.
SETTLE = 20.0


def polling_cost(kernel: Kernel, commands_run, hold: str) -> dict[str, float]:
    """Commands per minute the server's sshd runs for the kernel while it
    watches (a background watcher per submitted job, as after any submit)
    one job, arrays of 100 and 1000 tasks, and 10 jobs at once."""
    figures = {}
    for label, cells in [
        ("1 job", ["--job w1"]),
        ("1 array of 100 tasks", ["--job w100 --array 1-100"]),
        ("1 array of 1000 tasks", ["--job w1000 --array 1-1000"]),
        ("10 jobs", [f"--job w10-{i}" for i in range(10)]),
    ]:
        for options in cells:
            held = hold if "--array" in options or "sbatch" in hold else ""
            must(kernel.execute(f"%%crimpl submit --server sweep {options}{held}\nsleep 600\n", timeout=120))
        time.sleep(SETTLE)  # past the first quick polls, as a watch that lasts
        before = commands_run()
        time.sleep(POLL_WINDOW)
        figures[f"polling, {label} watched (commands/min)"] = (commands_run() - before) * 60 / POLL_WINDOW
        must(kernel.execute("%crimpl unwatch --all"))
        for options in cells:
            kernel.execute(f"%crimpl kill {options.split()[1]} --server sweep", timeout=120)
    # `show --follow` of 3 files a running job rewrites every second, beside
    # watching one job alone (the "1 job" row).
    must(kernel.execute("%%crimpl submit --server sweep --job wf\n"
                        "while :; do date > a.txt; date > b.txt; date > c.txt; sleep 1; done\n", timeout=120))
    following = kernel.kc.execute("%crimpl show wf a.txt b.txt c.txt --follow --server sweep")
    time.sleep(SETTLE)
    before = commands_run()
    time.sleep(POLL_WINDOW)
    figures["polling, 1 job watched, 3 of its files followed (commands/min)"] = \
        (commands_run() - before) * 60 / POLL_WINDOW
    kernel.km.interrupt_kernel()
    kernel.collect(following, timeout=60)
    must(kernel.execute("%crimpl unwatch --all"))
    kernel.execute("%crimpl kill wf --server sweep", timeout=120)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    args = parser.parse_args()
    runs, repeat = (50, 1) if args.quick else (200, 3)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="crimpl-bench-"))
    scratch.chmod(0o755)
    env = kernel_env(scratch / "config")

    if "kernel" in args.only:
        print("== kernel (start: median of 5; round trip: %d no-ops)" % runs, flush=True)
        rows = [("crimpl-kernel", bench_kernel("crimpl", "%crimpl help", runs, env)),
                ("ipykernel", bench_kernel("python3", "pass", runs, env))]
        print(f"{'kernel':<15}{'start s':>10}{'rtt median ms':>16}{'rtt p95 ms':>12}{'RSS MiB':>10}")
        for name, f in rows:
            print(f"{name:<15}{f['start']:>10.3f}{f['median'] * 1000:>16.2f}{f['p95'] * 1000:>12.2f}{f['rss']:>10.1f}")

    if "rust" in args.only:
        names, reason = rust_kernels()
        cells = 10 if args.quick else 30
        print(f"\n== Rust cells (median of {cells} each, kernels alternating)", flush=True)
        if reason:
            print(f"evcxr_jupyter left out: {reason}")
        figures = bench_rust(names, cells, env)
        print(f"{'kernel':<15}{'start to first result s':>25}{'let cell ms':>13}{'expression cell ms':>20}")
        for name, f in figures.items():
            print(f"{name:<15}{f['start to first result']:>25.2f}{f['let'] * 1000:>13.0f}"
                  f"{f['expression'] * 1000:>20.0f}")
        if len(figures) == 2:
            ours, theirs = figures["crimpl"], figures["rust"]
            print("ratios crimpl/evcxr_jupyter: " + ", ".join(
                f"{key} {ours[key] / theirs[key]:.2f}x" for key in ("start to first result", "let", "expression")))

    if "output" in args.only:
        print("\n== big output: kernel peak RSS while `%%crimpl run` prints 1 GiB", flush=True)
        print(f"{'iopub clients':<24}{'peak RSS MiB':>14}{'cell s':>10}")
        for label, peak, seconds in bench_big_output(scratch):
            print(f"{label:<24}{peak:>14.1f}{seconds:>10.1f}")
    if "sweeps" in args.only:
        print(f"\n== sweeps (median of {repeat}, status of {repeat * 3}), through the kernel", flush=True)
        print(f"{'server':<10}{'submit 1000 tasks s':>22}{'status of 1000 tasks s':>25}")
        sweeps = bench_sweeps(scratch, repeat)
        for kind, f in sweeps.items():
            print(f"{kind:<10}{f['submit 1000 tasks']:>22.3f}{f['status of 1000 tasks']:>25.3f}")
        print(f"\npolling cost: commands per minute the server's sshd ran over {POLL_WINDOW:.0f} s")
        for kind, f in sweeps.items():
            for label, value in f.items():
                if label.startswith("polling"):
                    print(f"{kind:<10}{label.removeprefix('polling, '):<52}{value:>8.1f}")
    if "spread" in args.only:
        print("\n== AWS sweep across instances (one run each; moto and this machine's sshd)", flush=True)
        print(f"{'sweep':<24}{'instances':>10}{'submit s':>10}{'submit to end s':>17}")
        for label, k, submitted, ended in bench_spread(scratch):
            print(f"{label:<24}{k:>10}{submitted:>10.2f}{ended:>17.2f}")
    if not {"jobs", "connect", "aws"} & set(args.only):
        shutil.rmtree(scratch, ignore_errors=True)
        return 0

    sshd = Sshd(scratch / "sshd", listen=INSTANCE_ADDRESSES)
    workdir = scratch / "notebook"
    workdir.mkdir()
    kernel = Kernel(workdir, kernel_env(scratch / "config", home=sshd.home))
    try:
        if "jobs" in args.only:
            must(kernel.execute(f"%crimpl server new local loc --directory {scratch / 'local-server'}"))
            must(kernel.execute("%crimpl server new ssh remote --host crimpl-test --directory ~/crimpl-bench"))
            must(kernel.execute("%crimpl server new ssh remote-o --host crimpl-test --transport openssh "
                                "--directory ~/crimpl-bench-o"))
            print(f"\n== jobs (median of {repeat}, status of {repeat * 3}), through the kernel", flush=True)
            local = bench_jobs(kernel, "loc", workdir, repeat)
            remote = bench_jobs(kernel, "remote", workdir, repeat)
            through_openssh = bench_jobs(kernel, "remote-o", workdir, repeat)
            openssh = bench_openssh(sshd, "crimpl-bench", workdir, repeat)
            print(f"{'operation':<26}{'local s':>10}{'ssh s':>10}{'ssh via OpenSSH s':>19}{'ratio':>7}"
                  f"{'OpenSSH ssh/scp s':>20}")
            for key in local:
                other = f"{openssh[key]:.3f}" if key in openssh else ""
                print(f"{key:<26}{local[key]:>10.3f}{remote[key]:>10.3f}{through_openssh[key]:>19.3f}"
                      f"{through_openssh[key] / remote[key]:>6.2f}x{other:>20}")
            for label, figures in (("libssh2", remote), ("OpenSSH transport", through_openssh)):
                ratio = openssh["fetch 1 GiB"] / figures["fetch 1 GiB"]
                print(f"1 GiB fetch throughput over SSH ({label}): {1024 / figures['fetch 1 GiB']:.0f} MiB/s, "
                      f"{ratio:.0%} of scp's {1024 / openssh['fetch 1 GiB']:.0f} MiB/s")
        if "connect" in args.only:
            print(f"\n== SSH connect (median of {repeat * 3}): kernel `server new` beside OpenSSH `ssh HOST true`",
                  flush=True)
            print(f"{'route':<26}{'kernel s':>10}{'OpenSSH s':>12}")
            for label, (ours, theirs) in bench_connect(kernel, sshd, scratch, repeat).items():
                print(f"{label:<26}{ours:>10.3f}{theirs:>12.3f}")
        if "aws" in args.only:
            print_aws(bench_aws(sshd, scratch))
    finally:
        kernel.shutdown()
        sshd.stop()
        sshd.cleanup_user("crimpl-bench", "crimpl-bench-o")
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def print_aws(rows: list[tuple[str, dict[str, int]]]) -> None:
    print("\n== AWS EC2: API calls per operation, waits included (real AWS's timing over moto)", flush=True)
    for label, actions in rows:
        detail = ", ".join(f"{name} {n}" for name, n in sorted(actions.items()))
        print(f"{label:<36}{sum(actions.values()):>4}  {detail}")


if __name__ == "__main__":
    sys.exit(main())
