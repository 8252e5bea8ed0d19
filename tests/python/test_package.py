"""The Python package, installed as Jupyter users install kernels: the wheel
(the one `pip install .` builds, from this tree's dev build) into a fresh
environment shows its kernelspec at once, runs a notebook from that
environment not activated (Jupyter started by its full path), carries the
papermill translator, and `pip uninstall` leaves nothing behind."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import textwrap
import venv

import nbformat

from kernel_helpers import cell_text

ROOT = pathlib.Path(__file__).resolve().parents[2]


def wheel() -> pathlib.Path:
    """The wheel scripts/test.sh built (CRIMPL_TEST_WHEEL), else one built now."""
    given = os.environ.get("CRIMPL_TEST_WHEEL")
    if given:
        return pathlib.Path(given)
    built = subprocess.run([str(ROOT / "scripts" / "wheel.sh")], capture_output=True, text=True, check=True)
    return ROOT / built.stdout.strip().splitlines()[-1]


def run(env_dir: pathlib.Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(env_dir / "bin" / args[0]), *args[1:]], env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_wheel_installs_a_kernel_jupyter_finds_and_uninstalls_whole(tmp_path):
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    # Not activated: PATH without the environment, no Jupyter path of the user's.
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "CRIMPL_CONFIG_DIR": str(tmp_path / "config"),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
    }
    pip = ("python", "-m", "pip", "--disable-pip-version-check", "-q")
    installed = run(env_dir, *pip, "install", "nbclient==0.11.0", str(wheel()), env=env)
    assert installed.returncode == 0, installed.stderr

    listed = run(env_dir, "jupyter-kernelspec", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    spec = json.loads(listed.stdout)["kernelspecs"]["crimpl"]
    assert pathlib.Path(spec["resource_dir"]) == env_dir / "share" / "jupyter" / "kernels" / "crimpl"
    assert (env_dir / "bin" / "crimpl-kernel").exists()

    # A two-cell notebook, executed by that environment alone (nbclient's
    # jupyter-execute): a magic, and a Rust expression (evcxr needs cargo).
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "crimpl", "display_name": "Rust + crimpl", "language": "rust"}
    notebook.cells = [nbformat.v4.new_code_cell("%crimpl help"), nbformat.v4.new_code_cell("40 + 2")]
    path = tmp_path / "two.ipynb"
    nbformat.write(notebook, path)
    cargo = pathlib.Path(shutil.which("cargo") or "/root/.cargo/bin/cargo").parent
    real_home = pathlib.Path(os.environ.get("HOME", "/root"))
    rust_env = {**env, "PATH": f"{cargo}:{env['PATH']}",
                "CARGO_HOME": os.environ.get("CARGO_HOME", str(real_home / ".cargo")),
                "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(real_home / ".rustup"))}
    executed = run(env_dir, "jupyter-execute", "--inplace", "--timeout=600", str(path), env=rust_env)
    assert executed.returncode == 0, executed.stdout + executed.stderr
    cells = nbformat.read(path, as_version=4).cells
    assert "Usage: %crimpl" in cell_text(cells[0])
    assert cell_text(cells[1]).strip() == "42"

    translator = run(env_dir, "python", "-c", textwrap.dedent("""
        from importlib.metadata import entry_points
        print([e.value for e in entry_points(group="papermill.engine") if e.name == "crimpl"])
    """), env=env)
    assert translator.stdout.strip() == "['crimpl_papermill:CrimplEngine']", translator.stdout + translator.stderr

    removed = run(env_dir, *pip, "uninstall", "-y", "crimpl-kernel", env=env)
    assert removed.returncode == 0, removed.stderr
    left = [str(p.relative_to(env_dir)) for p in env_dir.rglob("*") if "crimpl" in p.name.lower()]
    assert left == [], left
    listed = run(env_dir, "jupyter-kernelspec", "list", "--json", env=env)
    assert "crimpl" not in json.loads(listed.stdout)["kernelspecs"]
