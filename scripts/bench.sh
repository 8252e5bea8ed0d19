#!/usr/bin/env bash
# Print the benchmark figures (kernel vs ipykernel; job operations on the
# local and SSH servers beside OpenSSH). Needs root and, outside CI or a
# container, CRIMPL_TEST_SYSTEM=1 (it starts a private sshd with a test user
# of its own, removed at the end, as the tests do). Pass --quick for fewer
# repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/python-env.sh
cargo build --bin crimpl-kernel
./target/debug/crimpl-kernel install --prefix .venv
.venv/bin/python -m ipykernel install --sys-prefix --name python3 > /dev/null
exec .venv/bin/python scripts/bench.py "$@"
