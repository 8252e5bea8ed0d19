"""The kernel in `jupyter console`, driven through a real terminal with pexpect."""
from __future__ import annotations

import os
import sys

import pexpect

from kernel_helpers import kernel_env


def test_jupyter_console_runs_magics_and_rust(tmp_path):
    env = kernel_env(tmp_path / "config", home=tmp_path)
    console = os.path.join(os.path.dirname(sys.executable), "jupyter-console")
    child = pexpect.spawn(
        console, ["--kernel", "crimpl", "--simple-prompt"], env=env, cwd=str(tmp_path),
        encoding="utf-8", timeout=120,
    )
    try:
        child.expect("crimpl-kernel .*Try %crimpl help")  # the kernel's banner
        child.expect(r"In \[1\]: ")
        child.sendline("%crimpl jobs")
        child.expect("Jobs on local")
        child.expect(r"In \[2\]: ")
        child.sendline("6 * 7")
        child.expect(r"Out\[2\]: 42")
        child.expect(r"In \[3\]: ")
        child.sendeof()
        child.expect(r"Do you really want to exit")
        child.sendline("y")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus)
