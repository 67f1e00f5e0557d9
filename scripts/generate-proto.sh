#!/usr/bin/env bash
# Regenerates the protobuf-c code of the checkpoint schema into Sources/CCheckpointProto.
# Usage: scripts/generate-proto.sh [OUTPUT_DIR]   (default: the committed location)
# The test CheckpointProtoTests.testGeneratedCodeMatchesSchema runs this into a temporary
# directory and requires byte-for-byte equality with the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-Sources/CCheckpointProto}"
command -v protoc-c >/dev/null || { echo "generate-proto: protoc-c not found; apt-get install protobuf-c-compiler" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
protoc-c --proto_path=proto --c_out="$tmp" proto/capg/v1/checkpoint.proto
mkdir -p "$out/include"
# SwiftPM wants public headers under include/; the .c file includes "capg/v1/checkpoint.pb-c.h",
# so the header keeps its package path below include/.
mkdir -p "$out/include/capg/v1"
cp "$tmp/capg/v1/checkpoint.pb-c.h" "$out/include/capg/v1/checkpoint.pb-c.h"
cp "$tmp/capg/v1/checkpoint.pb-c.c" "$out/checkpoint.pb-c.c"
echo "generate-proto: wrote $out/checkpoint.pb-c.c and $out/include/capg/v1/checkpoint.pb-c.h ($(protoc-c --version | head -1))"
