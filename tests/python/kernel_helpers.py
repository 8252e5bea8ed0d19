"""Driving the crimpl kernel the way Jupyter does, with jupyter_client."""
from __future__ import annotations

import os
import pathlib
import queue
import time
from dataclasses import dataclass, field

from jupyter_client.manager import KernelManager

KERNEL_NAME = "crimpl"


def kernel_env(config_dir: pathlib.Path, home: pathlib.Path | None = None) -> dict[str, str]:
    """The kernel's environment: its own server registry and history file (beside the
    registry, not the user's) and, optionally, its own HOME (for ~/.ssh), keeping the
    Rust toolchain reachable for evcxr."""
    env = dict(os.environ)
    real_home = pathlib.Path(os.environ.get("HOME", "/root"))
    env.setdefault("CARGO_HOME", str(real_home / ".cargo"))
    env.setdefault("RUSTUP_HOME", str(real_home / ".rustup"))
    env["CRIMPL_CONFIG_DIR"] = str(config_dir)
    env["XDG_DATA_HOME"] = str(config_dir / "data")
    if home is not None:
        env["HOME"] = str(home)
    env.pop("SSH_AUTH_SOCK", None)
    return env


@dataclass
class Result:
    """A cell's execute_reply and the iopub messages it produced."""

    reply: dict
    outputs: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reply["status"] == "ok"

    @property
    def text(self) -> str:
        """Everything the cell showed, as plain text."""
        parts = []
        for msg in self.outputs:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                parts.append(content["text"])
            elif msg["msg_type"] in ("display_data", "update_display_data", "execute_result"):
                parts.append(content["data"].get("text/plain", ""))
            elif msg["msg_type"] == "error":
                parts.append(f"{content['ename']}: " + "\n".join(content["traceback"]))
        return "\n".join(parts)

    @property
    def error(self) -> str:
        return "\n".join(self.reply.get("traceback", [])) if not self.ok else ""


class Kernel:
    """One running crimpl kernel and a blocking client to it."""

    def __init__(self, cwd: pathlib.Path, env: dict[str, str], log: pathlib.Path | None = None, **manager):
        """Start a kernel in `cwd`; its stderr (the kernel's log) goes to `log` if given;
        `manager` are KernelManager options (transport_encryption, ...)."""
        self.cwd = cwd
        self.env = env
        self.km = KernelManager(kernel_name=KERNEL_NAME, **manager)
        extra = {}
        if log is not None:
            self.log_file = open(log, "w")
            extra["stderr"] = self.log_file
        self.km.start_kernel(cwd=str(cwd), env=env, **extra)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=30)

    def execute(self, code: str, timeout: float = 60) -> Result:
        msg_id = self.kc.execute(code)
        return self.collect(msg_id, timeout)

    def collect(self, msg_id: str, timeout: float = 60) -> Result:
        """Wait for the reply to msg_id and every output up to its idle status.

        iopub is read while the reply is awaited, as Jupyter's frontends do (a
        client that reads nothing until the reply counts as stopped reading)."""
        deadline = time.monotonic() + timeout
        reply, outputs, idle = None, [], False
        while reply is None or not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise queue.Empty(f"no {'idle status' if reply else 'reply'} for {msg_id} in {timeout} s")
            if not idle:
                try:
                    msg = self.kc.get_iopub_msg(timeout=min(0.05, remaining))
                except queue.Empty:
                    msg = None
                if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                    if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                        idle = True
                    elif msg["msg_type"] not in ("status", "execute_input"):
                        outputs.append(msg)
            if reply is None:
                try:
                    msg = self.kc.get_shell_msg(timeout=remaining if idle else 0)
                except queue.Empty:
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply = msg["content"]
        return Result(reply, outputs)

    def iopub_for(self, msg_id: str, seconds: float) -> list[dict]:
        """iopub messages that are children of msg_id, arriving within `seconds`."""
        found = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                found.append(msg)
        return found

    def iopub_until(self, msg_id: str, done, seconds: float = 30) -> list[dict]:
        """iopub children of msg_id up to the first for which `done(msg)` is
        true (included); fails if none comes within `seconds`."""
        found = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                found.append(msg)
                if done(msg):
                    return found
        raise AssertionError(f"no awaited message for {msg_id} in {seconds} s; came: {found}")

    def wait_shown(self, msg_id: str, seconds: float = 30) -> list[dict]:
        """iopub children of msg_id up to its first display (a wait or watch has read the job)."""
        return self.iopub_until(msg_id, lambda m: m["msg_type"] == "display_data", seconds)

    def restart(self) -> None:
        self.kc.stop_channels()
        self.km.restart_kernel(now=True)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=30)

    def alive(self) -> bool:
        self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=10)
        return reply["msg_type"] == "kernel_info_reply"

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
        if hasattr(self, "log_file"):
            self.log_file.close()


def wait_for(kernel: Kernel, job: str, word: str, seconds: float = 30) -> str:
    """`%crimpl status job` once it shows `word` (polled twice a second, for at most `seconds`)."""
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = kernel.execute(f"%crimpl status {job}").text
        if word in text:
            return text
        time.sleep(0.5)
    raise AssertionError(f"job {job} never became {word}: {text}")


def eventually(check, seconds: float = 10, what: str = "the awaited state") -> None:
    """Wait until `check()` is true (looked at every 0.05 s), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come in {seconds} s")
        time.sleep(0.05)


def cell_text(cell) -> str:
    """The text a saved notebook cell shows (streams and text/plain); no cell may hold an error."""
    parts = []
    for output in cell.outputs:
        assert output.output_type != "error", (cell.source, output)
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)
