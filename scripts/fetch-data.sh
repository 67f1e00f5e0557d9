#!/usr/bin/env bash
# Fetches the real-data samples capg uses (never committed; DIR is git-ignored by default):
#   DIR/mslr/msn1.fold1.{train,test}.5k.txt   MSLR-WEB sample from the rankeval==0.8.2 sdist
#   DIR/obd/random/all/{all,item_context}.csv Open Bandit Dataset sample from the obp==0.4.1 wheel
# Usage: scripts/fetch-data.sh [DIR]   (default: data/ at the package root)
# Idempotent: files already present are kept. Needs python3 with pip, tar, unzip, network.
#
# Note on the sdist: `pip download --no-binary :all:` prepares the sdist's metadata, and with
# build isolation that builds rankeval's build dependencies (numpy, scipy, Cython) from source,
# which takes very long. So the download runs in a private venv that has setuptools and wheel,
# with --no-build-isolation (metadata then needs only setuptools).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/data}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

die() { echo "fetch-data: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 is not on PATH (needed for pip download)"
command -v tar >/dev/null || die "tar is not on PATH"
command -v unzip >/dev/null || die "unzip is not on PATH (apt-get install unzip)"

work="$(mktemp -d "${TMPDIR:-/tmp}/capg-fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

mslr="$dir/mslr"
if [ -s "$mslr/msn1.fold1.train.5k.txt" ] && [ -s "$mslr/msn1.fold1.test.5k.txt" ]; then
  echo "fetch-data: MSLR sample already in $mslr"
else
  echo "fetch-data: downloading rankeval==0.8.2 (sdist)"
  python3 -m venv "$work/venv" >/dev/null || die "python3 -m venv failed (apt-get install python3-venv)"
  "$work/venv/bin/pip" install -q --disable-pip-version-check setuptools wheel \
    || die "could not install setuptools/wheel into a private venv (network?)"
  "$work/venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
      --no-build-isolation rankeval==0.8.2 -d "$work" \
    || die "pip download of rankeval==0.8.2 failed (network? PyPI reachable?)"
  sdist="$(ls "$work"/rankeval-0.8.2.tar.gz 2>/dev/null)" || die "rankeval-0.8.2.tar.gz not found after download"
  mkdir -p "$mslr"
  for f in train test; do
    member="rankeval-0.8.2/rankeval/test/data/msn1.fold1.$f.5k.txt"
    tar -xzf "$sdist" -C "$work" "$member" || die "$member is not in $sdist"
    mv "$work/$member" "$mslr/msn1.fold1.$f.5k.txt.tmp"
    mv "$mslr/msn1.fold1.$f.5k.txt.tmp" "$mslr/msn1.fold1.$f.5k.txt"
  done
  echo "fetch-data: MSLR sample in $mslr"
fi

obd="$dir/obd/random/all"
if [ -s "$obd/all.csv" ] && [ -s "$obd/item_context.csv" ]; then
  echo "fetch-data: OBD sample already in $obd"
else
  echo "fetch-data: downloading obp==0.4.1 (wheel)"
  python3 -m pip download -q --disable-pip-version-check --no-deps obp==0.4.1 -d "$work" \
    || die "pip download of obp==0.4.1 failed (network? PyPI reachable?)"
  wheel="$(ls "$work"/obp-0.4.1-*.whl 2>/dev/null | head -1)"
  [ -n "$wheel" ] || die "obp-0.4.1 wheel not found after download"
  mkdir -p "$obd"
  for f in all.csv item_context.csv; do
    unzip -q -o "$wheel" "obp/dataset/obd/random/all/$f" -d "$work" || die "obp/dataset/obd/random/all/$f is not in $wheel"
    mv "$work/obp/dataset/obd/random/all/$f" "$obd/$f.tmp"
    mv "$obd/$f.tmp" "$obd/$f"
  done
  echo "fetch-data: OBD sample in $obd"
fi
