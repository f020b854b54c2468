#!/usr/bin/env bash
# Profiles one hot path of the real stack (docs/BENCHMARKS.md, "Where the
# time goes"): starts a private PostgreSQL and lifeline-bench with a one-
# operation load, then, from the run's second second on, `perf stat` on the
# service and the client and `perf record --call-graph dwarf` on the service,
# and classifies the samples with scripts/perf_classify.py.
#   bash scripts/profile_path.sh OUT get:100 [http|inprocess] [extra lifeline-bench args]
set -uo pipefail
out=${1:?usage: profile_path.sh OUT MIX [TARGET] [ARGS...]}; mix=${2:?}; target=${3:-http}; shift 3 || shift $#
cd "$(dirname "$0")/.."
mkdir -p "$out"; out=$(realpath "$out")
source scripts/pg.sh
pg_start
set +e
build/bin/lifeline-bench --out "$out/run" --scenario none --mix "$mix" --seconds 26 --target "$target" "$@" \
  > "$out/bench.log" 2>&1 &
bench=$!
for _ in $(seq 1 1200); do tr '\r' '\n' < "$out/bench.log" | grep -q '^\[   2/' && break; sleep 0.5; done
if [ "$target" = http ]; then pid=$(pgrep -P "$bench" -x lifeline | head -1); else pid=$bench; fi
perf stat -e task-clock,context-switches,cpu-migrations,page-faults -p "$pid" -- sleep 4 2> "$out/stat.txt"
perf stat -e task-clock,context-switches,cpu-migrations -p "$bench" -- sleep 3 2> "$out/stat_client.txt"
perf record -F 499 --call-graph dwarf,32768 -o "$out/perf.data" -p "$pid" -- sleep 5 2> "$out/record.log"
wait "$bench"
perf script -i "$out/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null > "$out/script.txt"
python3 scripts/perf_classify.py "$out/script.txt" | tee "$out/classes.txt"
