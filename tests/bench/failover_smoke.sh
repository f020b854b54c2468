#!/usr/bin/env bash
# The standard failover scenario of docs/BENCHMARKS.md, short: lifeline-bench
# must finish with no error while a backend was up (its exit status says so)
# and leave every output behind. Numbers are not checked here: they belong
# to the benchmark, not to a test.
set -euo pipefail
bench=$1
out=$2
cache=$3
rm -rf "$out"
"$bench" --seconds 12 --docs 2000 --queries 100 --concurrency 4 --scenario failover \
  --out "$out" --cache-dir "$cache"
for f in summary.txt summary.json per_second.csv per_second.json events.csv plot.png; do
  [ -s "$out/$f" ] || { echo "missing $out/$f" >&2; exit 1; }
done
grep -q "pg-kill" "$out/events.csv"
grep -q "pg-start" "$out/events.csv"
# One row per second of the run, plus the header.
[ "$(wc -l < "$out/per_second.csv")" -eq 13 ]
