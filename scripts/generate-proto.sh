#!/usr/bin/env bash
# Regenerates the protobuf-c code of the schemas in proto/: the checkpoint schema into
# Sources/CCheckpointProto, the external scorer protocol into Sources/CScorerProto.
# Usage: scripts/generate-proto.sh [OUTPUT_DIR [SCORER_OUTPUT_DIR]]   (default: the committed locations)
# The test CheckpointProtoTests.testGeneratedCodeMatchesSchemas runs this into temporary
# directories and requires byte-for-byte equality with the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-Sources/CCheckpointProto}"
scorer_out="${2:-Sources/CScorerProto}"
command -v protoc-c >/dev/null || { echo "generate-proto: protoc-c not found; apt-get install protobuf-c-compiler" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
protoc-c --proto_path=proto --c_out="$tmp" proto/capg/v1/checkpoint.proto proto/capg/v1/scorer.proto
mkdir -p "$out/include"
# SwiftPM wants public headers under include/; the .c file includes "capg/v1/checkpoint.pb-c.h",
# so the header keeps its package path below include/.
mkdir -p "$out/include/capg/v1"
cp "$tmp/capg/v1/checkpoint.pb-c.h" "$out/include/capg/v1/checkpoint.pb-c.h"
cp "$tmp/capg/v1/checkpoint.pb-c.c" "$out/checkpoint.pb-c.c"
mkdir -p "$scorer_out/include/capg/v1"
cp "$tmp/capg/v1/scorer.pb-c.h" "$scorer_out/include/capg/v1/scorer.pb-c.h"
cp "$tmp/capg/v1/scorer.pb-c.c" "$scorer_out/scorer.pb-c.c"
echo "generate-proto: wrote $scorer_out/scorer.pb-c.c and $scorer_out/include/capg/v1/scorer.pb-c.h"
echo "generate-proto: wrote $out/checkpoint.pb-c.c and $out/include/capg/v1/checkpoint.pb-c.h ($(protoc-c --version | head -1))"
