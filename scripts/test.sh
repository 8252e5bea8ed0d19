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
echo "==> building (a cold build takes 16 to 25 minutes on 2 cores)"
started=$SECONDS
cargo build --all-targets
echo "==> built in $((SECONDS - started)) s"
echo "==> cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
./target/debug/crimpl-kernel install --prefix .venv
echo "==> Rust tests"
cargo test --quiet
if [ -z "$refusal" ]; then
  echo "==> Rust tests that need root (the EC2 boot script on a loop device)"
  cargo test --quiet --test bootstrap -- --ignored
fi
echo "==> Python tests (kernel protocol, notebooks, servers)"
.venv/bin/python -m pytest tests/python -q -p no:cacheprovider -rs "$@"
