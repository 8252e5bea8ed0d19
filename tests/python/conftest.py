"""Fixtures: a fresh crimpl kernel in a temporary working directory, with its
own server registry, so tests never touch the user's servers.

harness.session keeps the run safe on anyone's machine: one temporary root
for every file, the opt-in for tests that change the system (marked
`system`), and a final check that nothing is left behind."""
from __future__ import annotations

import pathlib
import shutil
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from harness import processes  # noqa: E402
from kernel_helpers import Kernel, kernel_env  # noqa: E402

pytest_plugins = ("harness.session", "pytester")


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
    # Leave no job running behind: end the processes working in the server
    # directory (a job's wrapper and script run in its job directory), and
    # theirs; never a recorded pid that another process may have taken since.
    now = processes.snapshot()
    jobs = processes.holding(path, now)
    processes.end(sorted({*jobs, *(child for pid in jobs for child in processes.descendants(pid, now))}))
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
