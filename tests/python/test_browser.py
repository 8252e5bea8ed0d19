"""What a person sees: JupyterLab with this kernel, driven headless by
Debian's chromium through Playwright (nothing downloads a browser). A
notebook runs a submit, a `show` of a PNG and of a CSV, and a sweep; the
test checks what the page renders, and saves a screenshot."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from harness.sshd import free_port
from kernel_helpers import kernel_env

pytestmark = pytest.mark.system  # chromium, installed by scripts/system-deps.sh

CHROMIUM = shutil.which("chromium")
# A 1x1 PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

CELLS = [
    "%crimpl server new local browser --directory {server}\n%crimpl server use browser",
    f"%%crimpl submit --job plot --wait\necho {PNG} | base64 -d > p.png\n"
    "printf 'alpha,loss\\n0.1,3\\n0.2,2\\n0.3,1\\n' > r.csv\n",
    "%crimpl show plot p.png",
    "%crimpl show plot r.csv",
    "%%crimpl submit --job sweep --array 1-4 --wait\necho $CRIMPL_TASK_ID > out.txt\n",
    "%crimpl status sweep --tasks",
]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free loopback port, serving tmp_path/notebooks; its
    kernels use their own registry (kernel_env)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/system-deps.sh installs it)")
    root = tmp_path / "notebooks"
    root.mkdir()
    port, token = free_port(), "crimpl-browser-test"
    env = kernel_env(tmp_path / "config")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=", "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=open(tmp_path / "lab.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        # Lab says where it listens (another port when the one offered was
        # taken meanwhile).
        deadline = time.monotonic() + 60
        while not (found := re.search(r"http://127\.0\.0\.1:(\d+)/", (tmp_path / "lab.log").read_text())):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "lab.log").read_text()
            time.sleep(0.2)
        url = f"http://127.0.0.1:{found.group(1)}"
        urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=10)
        yield root, f"{url}/lab/tree/{{}}?token={token}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # Lab shuts its kernels down
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_jupyterlab_renders_statuses_images_tables_and_a_sweep(lab, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    root, page_url = lab
    server = tmp_path / "server"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "crimpl", "display_name": "crimpl (Rust)", "language": "rust"}
    notebook.cells = [nbformat.v4.new_code_cell(cell.replace("{server}", str(server))) for cell in CELLS]
    nbformat.write(notebook, root / "look.ipynb")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.goto(page_url.format("look.ipynb"))
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # The kernel is up once the toolbar's indicator reads idle.
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            first_prompt = cells.nth(0).locator(".jp-InputPrompt")
            # Run All is disabled until the notebook panel is active: try
            # again until the first cell's prompt shows it was queued.
            for _ in range(10):
                cells.nth(0).locator(".jp-InputPrompt").click()
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                try:
                    page.wait_for_function(
                        "e => /\\[(\\*|\\d+)\\]/.test(e.textContent)", arg=first_prompt.element_handle(),
                        timeout=5_000)
                    break
                except PlaywrightTimeout:
                    page.keyboard.press("Escape")
            # The last cell's timeline (an SVG image) means every cell ran.
            last = cells.nth(len(CELLS) - 1)
            try:
                last.locator(".jp-RenderedSVG, .jp-RenderedImage").first.wait_for(timeout=120_000)
            finally:
                page.screenshot(path=str(tmp_path / "look.png"), full_page=True)

            # The submit's status table: its status word coloured.
            badge = cells.nth(1).locator("table.crimpl span", has_text="complete").first
            colour = badge.evaluate("e => getComputedStyle(e).color")
            assert colour not in ("rgb(0, 0, 0)", ""), colour
            # The PNG, decoded by the browser.
            image = cells.nth(2).locator(".jp-RenderedImage img")
            assert image.evaluate("e => e.complete && e.naturalWidth") == 1
            # The CSV as a table of its rows.
            rows = cells.nth(3).locator("table.crimpl tbody tr")
            assert rows.count() == 3
            assert "0.2" in rows.nth(1).inner_text()
            # The sweep: its progress bar full, and its timeline drawn.
            progress = cells.nth(4).locator("progress").first
            assert progress.evaluate("e => e.value === e.max && e.max === 4")
            timeline = last.locator(".jp-RenderedSVG img, .jp-RenderedSVG svg").first
            assert timeline.evaluate("e => e.getBoundingClientRect().width") > 100
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert errors.count() == 0, errors.all_inner_texts()
        finally:
            browser.close()
