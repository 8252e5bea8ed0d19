#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (Debian
# packages, the Python environment), builds, then runs the Rust tests and the
# Python tests that drive the kernel through jupyter_client, nbclient,
# jupyter console and jupyter_kernel_test, against real sshd and Slurm
# started by the test harness.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/python-env.sh
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> building (a cold build takes about 16 minutes on 2 cores)"
started=$SECONDS
cargo build --all-targets
echo "==> built in $((SECONDS - started)) s"
echo "==> cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
./target/debug/crimpl-kernel install --prefix .venv
echo "==> Rust tests"
cargo test --quiet
echo "==> Python tests (kernel protocol, notebooks, servers)"
.venv/bin/python -m pytest tests/python -q -p no:cacheprovider "$@"
