"""The demo notebooks run top to bottom under nbclient, as CI and users run them."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import nbformat

from kernel_helpers import cell_text, kernel_env

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_notebook(name: str, outdir: pathlib.Path, env: dict[str, str]) -> nbformat.NotebookNode:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_notebook.py"), str(ROOT / "notebooks" / name), str(outdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return nbformat.read(outdir / name, as_version=4)


def outputs_text(notebook: nbformat.NotebookNode) -> list[str]:
    return [cell_text(cell) for cell in notebook.cells if cell.cell_type == "code"]


def test_quickstart_runs_and_fetches_its_result(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = kernel_env(tmp_path / "config", home=home)
    notebook = run_notebook("quickstart.ipynb", tmp_path / "out", env)
    texts = outputs_text(notebook)
    assert "Usage: %crimpl" in texts[0]
    joined = "\n".join(texts)
    assert "Check of server quickstart (local)" in joined and "server directory" in joined
    assert "hello from" in joined and "step 3" in joined
    assert "summing the numbers" in joined
    assert "complete" in joined
    # Every saved job display shows how its job ended (issue 15), the submit cell's too.
    statuses = [text for text in texts if "Jobs on quickstart" in text]
    assert len(statuses) >= 3, texts
    for text in statuses:
        assert "complete" in text and "starting" not in text and "running" not in text, text
    assert "sum.txt" in joined and "fetched" in joined
    assert (tmp_path / "out" / "quickstart-results" / "sum.txt").read_text() == "10\n"
    assert texts[-2].strip() == "10"  # the Rust cell read the fetched file
    assert (home / "crimpl-quickstart").is_dir()


def test_sweep_runs_fails_one_task_reruns_it_and_gathers_every_result(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = kernel_env(tmp_path / "config", home=home)
    notebook = run_notebook("sweep.ipynb", tmp_path / "out", env)
    # The cell that waits for the first run ends in the error it is tagged to raise.
    expected = [cell for cell in notebook.cells if "raises-exception" in cell.metadata.get("tags", [])]
    assert len(expected) == 1
    errors = [o for o in expected[0].outputs if o.output_type == "error"]
    assert len(errors) == 1, expected[0].outputs
    assert errors[0].evalue == (
        "array squares ended failed: 49 complete, 1 failed (task-0013: failed (exit code 3)); "
        "%crimpl resubmit squares --failed runs them again"), errors[0].evalue
    expected[0].outputs = [o for o in expected[0].outputs if o.output_type != "error"]
    joined = "\n".join(outputs_text(notebook))
    assert "Running 1 task(s) of array squares again." in joined
    assert "50/50 tasks ended: 50 complete" in joined
    assert "50 tasks, sum of squares 42925" in joined
    assert "total 42925" in joined
    assert (tmp_path / "out" / "squares" / "task-0013" / "result.txt").read_text() == "169\n"
