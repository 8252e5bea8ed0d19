#!/usr/bin/env bash
# Build the crimpl-kernel Python package (pyproject.toml, maturin) from this
# tree's dev build and install it into .venv: the kernel binary in .venv/bin,
# its kernelspec in .venv/share/jupyter/kernels/crimpl, the papermill
# translator. Prints the wheel's path last. The dev profile: this checks the
# package, quickly; `pip install .` builds the release profile.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f target/wheels/crimpl_kernel-*.whl
.venv/bin/maturin build --quiet --profile dev --auditwheel skip --out target/wheels >&2
wheel=$(ls target/wheels/crimpl_kernel-*.whl)
.venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel" >&2
echo "$wheel"
