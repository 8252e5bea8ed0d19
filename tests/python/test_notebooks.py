"""The demo notebooks run top to bottom under nbclient, as CI and users run them."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import nbformat

from kernel_helpers import Kernel, cell_text, kernel_env

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


def job_files(server_dir: pathlib.Path, skip: tuple[str, ...] = ()) -> dict[str, float]:
    """Every job's own files (not crimpl's) under the server directory, with
    their modification times: what a second run must leave as it was."""
    return {
        str(path.relative_to(server_dir)): path.stat().st_mtime
        for path in sorted(server_dir.glob("crimpl-job-*/**/*"))
        if path.is_file() and not path.name.startswith("crimpl") and path.name not in skip
    }


def job_dirs(server_dir: pathlib.Path) -> list[str]:
    return sorted(path.name for path in server_dir.glob("crimpl-job-*"))


def run_again_unchanged(name: str, outdir: pathlib.Path, env: dict[str, str], server_dir: pathlib.Path,
                        skip: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """Run notebook `name` a second time in the same place: it must complete,
    make no new job, and run nothing again that completed."""
    dirs, files = job_dirs(server_dir), job_files(server_dir, skip)
    assert dirs and files, "the first run made no job"
    notebook = run_notebook(name, outdir, env)
    assert job_dirs(server_dir) == dirs, "the second run made new jobs"
    assert job_files(server_dir, skip) == files, "the second run ran a completed job again"
    assert "reused as it is" in "\n".join(outputs_text(notebook))
    return notebook


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
    manifest = json.loads((tmp_path / "out" / "quickstart-results" / ".crimpl" / "sum.json").read_text())
    assert manifest["end"]["status"] == "complete"
    assert [o["name"] for o in manifest["end"]["outputs"]] == ["sum.txt"]
    assert "1 file(s) match the sha256 the job recorded" in joined

    again = run_again_unchanged("quickstart.ipynb", tmp_path / "out", env, home / "crimpl-quickstart")
    assert "unchanged (same content)" in "\n".join(outputs_text(again))


def test_a_notebook_killed_mid_run_completes_when_run_again_with_no_duplicate_job(tmp_path):
    """SIGKILL the kernel while the quickstart's submit is under way (the
    job directory has just appeared), then run the whole notebook again."""
    home = tmp_path / "home"
    home.mkdir()
    env = kernel_env(tmp_path / "config", home=home)
    out = tmp_path / "out"
    out.mkdir()
    server_dir = home / "crimpl-quickstart"
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    submit_at = next(i for i, source in enumerate(code) if source.startswith("%%crimpl submit"))
    kernel = Kernel(out, env)
    try:
        for source in code[:submit_at]:
            assert kernel.execute(source, timeout=300).ok, source
        kernel.kc.execute(code[submit_at])
        deadline = time.monotonic() + 60
        while not job_dirs(server_dir) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert job_dirs(server_dir) == ["crimpl-job-sum"]
        os.kill(kernel.km.provisioner.pid, signal.SIGKILL)
    finally:
        kernel.kc.stop_channels()
        kernel.km.cleanup_resources()
    run_notebook("quickstart.ipynb", out, env)
    assert job_dirs(server_dir) == ["crimpl-job-sum"]
    assert (out / "quickstart-results" / "sum.txt").read_text() == "10\n"


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
    assert "ended failed: running again its 1 task(s) that did not complete." in joined
    assert "50/50 tasks ended: 50 complete" in joined
    assert "50 tasks, sum of squares 42925" in joined
    assert "total 42925" in joined
    assert (tmp_path / "out" / "squares" / "task-0013" / "result.txt").read_text() == "169\n"
    svg = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
           if o.output_type == "display_data" and "image/svg+xml" in o.data]
    assert len(svg) == 1 and svg[0].data["image/svg+xml"].count("<rect") == 50, svg

    # The whole notebook again: nothing fails, nothing runs twice.
    run_again_unchanged("sweep.ipynb", tmp_path / "out", env, home / "crimpl-sweep", skip=("second-try",))
