#!/usr/bin/env bash
# Measures the LETOR reader's throughput (MB/s, lines/s) on a file, default the MSLR 5k
# train fold (fetched by scripts/fetch-data.sh). Builds CAPGCore + CAPGData + a driver as one
# optimized module (-O -Ounchecked, like the release targets) so no full release build is needed.
# Usage: scripts/bench-reader.sh [FILE]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
file="${1:-$root/data/mslr/msn1.fold1.train.5k.txt}"
[ -f "$file" ] || "$root/scripts/fetch-data.sh" >/dev/null
[ -f "$file" ] || { echo "bench-reader: $file not found" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/capg-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp $(find "$root/Sources/CAPGCore" "$root/Sources/CAPGData" -name '*.swift') "$work/"
cp "$root/scripts/bench/letor-reader-main.swift" "$work/main.swift"
sed -i '/^import CAPGCore/d' "$work"/*.swift   # one module: no cross-module import
blas_cflags="$(pkg-config --cflags openblas)"
swiftc -O -Ounchecked -swift-version 6 -module-name ReaderBench -I "$root/Sources/CBLAS" \
  -Xcc ${blas_cflags} -lopenblas "$work"/*.swift -o "$work/bench"
"$work/bench" "$file"
