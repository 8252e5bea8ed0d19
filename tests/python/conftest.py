"""Fixtures: a fresh crimpl kernel in a temporary working directory, with its
own server registry, so tests never touch the user's servers."""
from __future__ import annotations

import pathlib
import shutil
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from kernel_helpers import Kernel, kernel_env  # noqa: E402


@pytest.fixture
def workdir(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "notebook"
    path.mkdir()
    return path


@pytest.fixture
def config_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "config"


@pytest.fixture
def server_dir(tmp_path: pathlib.Path):
    path = tmp_path / "server"
    yield path
    # Leave no job running behind: kill every wrapper still recorded.
    for pid_file in path.glob("crimpl-job-*/crimpl-job.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            import os
            import signal

            os.killpg(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def kernel(workdir, config_dir):
    k = Kernel(workdir, kernel_env(config_dir))
    yield k
    k.shutdown()


@pytest.fixture
def local_kernel(kernel, server_dir):
    """A kernel with a local server `loc` in a temporary directory, in use."""
    result = kernel.execute(f"%crimpl server new local loc --directory {server_dir}\n%crimpl server use loc")
    assert result.ok, result.error
    return kernel
