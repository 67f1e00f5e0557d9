#!/usr/bin/env bash
# Installs the system packages capg needs on Debian/Ubuntu (idempotent: skips what is
# already installed) and builds the package. Usage: scripts/setup.sh [release|debug]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libopenblas-dev libopenmpi-dev openmpi-bin libprotobuf-c-dev protobuf-c-compiler pkg-config unzip)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift (6.x) is not on PATH; install the Swift toolchain first" >&2; exit 1; }

config="${1:-release}"
echo "setup: swift build -c $config"
swift build -c "$config" 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test -x ".build/$config/capg" || { echo "setup: build failed" >&2; exit 1; }
