#!/usr/bin/env bash
# The whole test suite: installs what is needed, builds, runs every XCTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh debug
swift build --build-tests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
swift test --skip-build
