#!/usr/bin/env bash
# Debian packages the test suite needs: a real OpenSSH server, a single-node
# Slurm with munge. Installs only what is missing (run as root).
set -euo pipefail
packages=(openssh-server openssh-client slurm-wlm munge tar findutils)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" > /dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
# Package installs may start system daemons; the tests start their own.
for daemon in slurmctld slurmd munged; do pkill -x "$daemon" 2>/dev/null || true; done
