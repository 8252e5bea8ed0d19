#!/usr/bin/env bash
# Debian packages the server tests need: a real OpenSSH server, a single-node
# Slurm with munge, tcsh (a test user's login shell), chromium (the browser test drives
# JupyterLab in it, through Playwright); and libsodium-dev and pkg-config, which
# the build needs (libzmq's CurveZMQ, vendor/README.md). Installs only what is
# missing, and only where the tests may change the system (root, and CI, a
# container or CRIMPL_TEST_SYSTEM=1; see tests/python/harness/system.py);
# elsewhere it says what is missing and the tests that need it are skipped.
#
# Package installs start no service: the tests run private instances of their
# own. A temporary /usr/sbin/policy-rc.d (exit 101, "action forbidden") stops
# the packages' scripts from starting munge or Slurm; it is removed afterwards,
# and only if this script made it (a machine's own policy is left as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
# `scripts/system-deps.sh build` (the main job) installs only what the build needs.
build_packages=(libsodium-dev pkg-config)
test_packages=(openssh-server openssh-client slurm-wlm munge tar findutils shellcheck tcsh chromium)
packages=("${build_packages[@]}")
[ "${1:-}" = build ] || packages+=("${test_packages[@]}")
missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query --show --showformat='${Status}' "$package" 2> /dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! refusal=$(python3 tests/python/harness/system.py); then
  echo "==> not installing ${missing[*]}: $refusal"
  exit 0
fi

policy=/usr/sbin/policy-rc.d
marker="made by crimpl-kernel scripts/system-deps.sh"
if [ ! -e "$policy" ] || grep -qF "$marker" "$policy"; then
  # Ours, also when an earlier run was killed before removing it.
  trap 'rm -f "$policy"' EXIT
  trap 'exit 130' INT TERM HUP
  printf '#!/bin/sh\n# %s while it installs packages: no service starts.\nexit 101\n' "$marker" > "$policy"
  chmod 755 "$policy"
fi
echo "==> installing ${missing[*]} (no service is started)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
