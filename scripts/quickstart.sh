#!/usr/bin/env bash
# The main job: build the kernel's Python package and install it into the
# project's Jupyter environment (.venv) as a user's `pip install` does, and run notebooks/quickstart.ipynb headless on the
# local server. The executed notebook is notebooks/executed/quickstart.ipynb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh build
scripts/python-env.sh
echo "==> building and installing the crimpl-kernel package into .venv (a cold build takes about 15 minutes on 2 cores)"
scripts/wheel.sh > /dev/null
.venv/bin/python scripts/run_notebook.py notebooks/quickstart.ipynb notebooks/executed
echo "Open it with: .venv/bin/jupyter nbconvert --to html notebooks/executed/quickstart.ipynb, or in JupyterLab."
