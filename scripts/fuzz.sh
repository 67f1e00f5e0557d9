#!/usr/bin/env bash
# Coverage-guided fuzzing of capg's input decoders with libFuzzer (Swift's
# -sanitize=fuzzer, plus AddressSanitizer), one target per decoder:
#   checkpoint  CheckpointDecoder.decode (raw, and resealed so mutations pass the CRCs)
#   scorer      ScorerMessage.decodeReply (external scorer replies)
#   letor       LetorReader.parse / LetorReader.read (streaming, tiny read sizes)
#   obd         OBDLoader.parse (log CSV + item_context CSV)
#   config      TrainingConfig.apply(json:) / apply(overrides:) + validate()
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default 60 s per target, every target)
#        scripts/fuzz.sh 10                      (CI: ~1 min of fuzzing after the build)
#
# The libraries are built by SwiftPM with --sanitize=fuzzer --sanitize=address into
# .build/fuzz (instrumented for coverage, not linked with libFuzzer's main), then each
# harness in fuzz/targets/ is linked by swiftc against their object files. Seeds come from
# fuzz/corpus/<target>/ (committed, small); new inputs go to .build/fuzz/corpus/<target>/
# (kept between runs, not committed); a crashing input is saved under
# .build/fuzz/crashes/<target>/ and the script exits non-zero. Every crash found must
# become an XCTest feeding that input to the library function (see docs/fuzzing.md).
# Prints one line per target (executions, coverage) and `fuzz: N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(checkpoint scorer letor obd config)
B=.build/fuzz/debug
OUT=.build/fuzz

build_libraries() {
  for t in CAPGCheckpoint CAPGData; do
    swift build --scratch-path "$OUT" --sanitize=fuzzer --sanitize=address --target "$t" 2>&1 \
      | grep -Ev '^\[[0-9]+/[0-9]+\]|^Building|^Build of target' 
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: building $t with -sanitize=fuzzer failed" >&2; return 1; }
  done
}

# Links fuzz/targets/$1.swift against the instrumented modules.
link_target() {
  local name=$1 objs=("$B"/CAPGCore.build/*.swift.o "$B"/CVectorMath.build/*.c.o)
  case $name in
    letor|obd) objs+=("$B"/CAPGData.build/*.swift.o) ;;
    *) objs+=("$B"/CAPGParallel.build/*.swift.o "$B"/CAPGTrain.build/*.swift.o "$B"/CAPGCheckpoint.build/*.swift.o "$B"/CCheckpointProto.build/*.c.o
              "$B"/CScorerProto.build/*.c.o "$B"/CStopSignal.build/*.c.o) ;;
  esac
  local maps=()
  for m in CCheckpointProto CScorerProto CStopSignal CVectorMath; do maps+=(-Xcc "-fmodule-map-file=$B/$m.build/module.modulemap"); done
  for m in CMPI CBLAS; do maps+=(-Xcc "-fmodule-map-file=Sources/$m/module.modulemap"); done
  local incs=()
  for i in $(pkg-config --cflags-only-I ompi-c openblas); do incs+=(-Xcc "$i"); done
  mkdir -p "$OUT/bin"
  # ld.gold warns once per ASan helper symbol ("Cannot export local symbol"): harmless.
  swiftc -sanitize=fuzzer,address -parse-as-library -g -module-name "Fuzz_$name" "fuzz/targets/$name.swift" \
    -I "$B/Modules" "${maps[@]}" "${incs[@]}" "${objs[@]}" -lprotobuf-c $(pkg-config --libs ompi-c openblas) \
    -o "$OUT/bin/fuzz-$name" 2>&1 | grep -v "Cannot export local symbol"
  [ "${PIPESTATUS[0]}" -eq 0 ]
}

build_libraries || { echo "fuzz: 0 passed, ${#TARGETS[@]} failed"; exit 1; }
passed=0; failed=0
for t in "${TARGETS[@]}"; do
  if ! link_target "$t"; then echo "fuzz $t: link failed"; failed=$((failed + 1)); continue; fi
  work="$OUT/corpus/$t"; crashes="$OUT/crashes/$t"; log="$OUT/fuzz-$t.log"
  mkdir -p "$work" "$crashes"
  # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: 2 GB is a leak or an
  # unbounded allocation; -max_len 64 KiB holds the seeds with room to grow.
  # SWIFT_BACKTRACE=enable=no: the Swift backtracer trips ASan on a crash and buries the report.
  SWIFT_BACKTRACE=enable=no OPENBLAS_NUM_THREADS=1 "$OUT/bin/fuzz-$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "fuzz/corpus/$t" >"$log" 2>&1
  code=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  pcs=$(sed -nE 's/.*PC tables? \(([0-9]+) PCs\).*/\1/p' "$log" | head -1)
  corpus=$(ls "$work" | wc -l)
  if [ "$code" -eq 0 ]; then
    echo "fuzz $t: ok, ${execs:-0} executions (${rate:-0}/s) in ${SECS}s, ${cov:-cov: ?} (of ${pcs:-?} instrumented PCs), corpus $corpus"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAILED (exit $code) after ${execs:-?} executions; input in $crashes/, log $log:"
    grep -E 'ERROR|SUMMARY|Fatal error|==[0-9]+==' "$log" | head -5
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
