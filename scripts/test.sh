#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (Debian
# packages, the Python environment), builds, then runs the Rust tests and the
# Python tests that drive the kernel through jupyter_client, nbclient,
# jupyter console and jupyter_kernel_test, against private instances of sshd,
# munged, Slurm and moto started by the test harness.
#
# The tests that change the system (Debian packages, a test user, daemons run
# as root, a loop device) run as root in CI, in a container, or with
# CRIMPL_TEST_SYSTEM=1; elsewhere they are skipped and say why, and every
# other test runs. See the README, "Running the tests".
set -euo pipefail
cd "$(dirname "$0")/.."
if refusal=$(python3 tests/python/harness/system.py); then
  echo "==> tests that change the system: run (as root: packages, a test user, private daemons)"
else
  echo "==> tests that change the system: skipped ($refusal)"
fi
scripts/system-deps.sh
scripts/python-env.sh
echo "==> cargo fmt --check"
cargo fmt --all -- --check
# Clippy lints the crate while it is built: clippy-driver compiles the
# crate's own targets in place of rustc (what `cargo clippy` does, but
# producing the binaries), with its warnings as errors. A separate
# `cargo clippy` would check every dependency a second time (4 minutes here).
# Every cargo command below runs so, and none rebuilds the crate; the
# kernels the Python tests start must not inherit it (evcxr's cargo would
# lint the cells' code).
clippy_driver=$(rustup which clippy-driver 2> /dev/null || command -v clippy-driver || true)
if [ -z "$clippy_driver" ]; then
  echo "clippy-driver not found: install clippy (rustup component add clippy)" >&2
  exit 1
fi
linted_cargo() {
  # CLIPPY_ARGS is cargo clippy's own encoding of `-- -D warnings`.
  RUSTC_WORKSPACE_WRAPPER=$clippy_driver CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" cargo "$@"
}
echo "==> building, with clippy's lints as errors (a cold build took 15 minutes on 2 cores)"
started=$SECONDS
linted_cargo build --all-targets
echo "==> built in $((SECONDS - started)) s"
# The kernels the Python tests start are the package's, installed into .venv
# as `pip install` does (the wheel is built from this build: its binary relinked).
started=$SECONDS
RUSTC_WORKSPACE_WRAPPER=$clippy_driver CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
  scripts/wheel.sh > target/wheels.path
export CRIMPL_TEST_WHEEL="$PWD/$(cat target/wheels.path)"
echo "==> package $CRIMPL_TEST_WHEEL built and installed into .venv in $((SECONDS - started)) s"
started=$SECONDS
echo "==> Rust tests"
linted_cargo test --quiet
if [ -z "$refusal" ]; then
  echo "==> Rust tests that need root (the EC2 boot script on a loop device)"
  linted_cargo test --quiet --test bootstrap -- --ignored
fi
echo "==> Rust tests took $((SECONDS - started)) s"
# In parallel: each pytest-xdist worker has its own temporary root, test
# user, daemons and ports (tests/python/harness/session.py); a module's
# tests stay on one worker, so a module's daemons start once.
workers=${CRIMPL_TEST_WORKERS:-4}
echo "==> Python tests (kernel protocol, notebooks, servers), $workers workers"
started=$SECONDS
status=0
.venv/bin/python -m pytest tests/python -q -p no:cacheprovider -rs -n "$workers" --dist loadscope "$@" || status=$?
echo "==> Python tests took $((SECONDS - started)) s"
exit $status
