#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), then prints one
# summary line per target. Findings land in fuzz/artifacts/<target>/ and
# make the script exit non-zero; keep each one as a regression test in
# tests/fuzz_regressions.rs.
#
#   fuzz/run.sh 600                      # ten minutes per target, one at a time
#   JOBS=2 fuzz/run.sh 600               # two targets at a time
#   TARGETS="jwt jwks" fuzz/run.sh 60    # a subset
#
# Works on a stable toolchain: the coverage instrumentation libFuzzer needs
# is passed as -C flags, the way cargo-fuzz passes it (cargo-fuzz itself is
# not needed; `cargo fuzz run <target>` works too, on nightly).
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-60}
jobs=${JOBS:-1}
targets=${TARGETS:-"authorization api_key jwt jwks hmac_native httpsig webhooks layer dpop"}
host=$(rustc -vV | sed -n 's/^host: //p')

export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
# --target keeps the flags off build scripts and proc macros.
cargo build --release --target "$host" --bins

run_one() {
  local target=$1
  mkdir -p "corpus/$target" "artifacts/$target" logs
  local seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  if "target/$host/release/$target" "corpus/$target" "${seeds[@]}" \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="artifacts/$target/" -print_final_stats=1 \
      >"logs/$target.log" 2>&1; then
    echo "ok"
  else
    echo "FAILED"
  fi >"logs/$target.result"
}

running=0
for target in $targets; do
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

status=0
printf '%-14s %-7s %12s %8s %8s %9s\n' target result runs exec/s cov corpus
for target in $targets; do
  log="logs/$target.log"
  result=$(cat "logs/$target.result")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "corpus/$target" -type f | wc -l)
  printf '%-14s %-7s %12s %8s %8s %9s\n' "$target" "$result" "${runs:-?}" "${speed:-?}" "${cov:-?}" "$corpus"
  if [ "$result" != ok ] || [ -n "$(ls -A "artifacts/$target")" ]; then
    status=1
  fi
done
exit $status
