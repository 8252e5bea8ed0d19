#!/usr/bin/env bash
# The main job: build the kernel, install it into the project's Jupyter
# environment (.venv), and run notebooks/quickstart.ipynb headless on the
# local server. The executed notebook is notebooks/executed/quickstart.ipynb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh build
scripts/python-env.sh
echo "==> building crimpl-kernel (a cold build takes about 15 minutes on 2 cores)"
cargo build --bin crimpl-kernel
./target/debug/crimpl-kernel install --prefix .venv
.venv/bin/python scripts/run_notebook.py notebooks/quickstart.ipynb notebooks/executed
echo "Open it with: .venv/bin/jupyter nbconvert --to html notebooks/executed/quickstart.ipynb, or in JupyterLab."
