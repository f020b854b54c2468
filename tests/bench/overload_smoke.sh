#!/usr/bin/env bash
# The overload scenario of docs/BENCHMARKS.md, short: lifeline-bench measures
# the server's capacity, then sends twice that on a fixed schedule to a server
# started with --max-in-flight 4, then half of it. Asserted: some requests
# were shed (503 "Overloaded" with Retry-After), no other error at all (the
# harness's exit status says so: a 503 that is not "Overloaded", a timeout, a
# connection error or a wrong 2xx body make it 3), and the server answered
# every one of the sequential requests after the load dropped correctly.
# Numbers are not checked here: they belong to the benchmark, not to a test.
set -euo pipefail
bench=$1
out=$2
cache=$3
rm -rf "$out"
"$bench" --scenario overload --docs 2000 --queries 100 --max-in-flight 4 \
  --warmup-seconds 1 --capacity-seconds 3 --overload-seconds 4 --recovery-seconds 3 \
  --check-requests 100 --out "$out" --cache-dir "$cache"
for f in summary.txt summary.json per_second.csv per_second.json plot.png; do
  [ -s "$out/$f" ] || { echo "missing $out/$f" >&2; exit 1; }
done
field() { grep -o "\"$1\":[^,}]*" "$out/summary.json" | head -1 | cut -d: -f2; }
shed=$(field shed_total)
[ "$shed" -gt 0 ] || { echo "nothing was shed at twice the capacity" >&2; exit 1; }
[ "$(field shed_without_retry_after)" -eq 0 ] || { echo "a shed reply had no Retry-After" >&2; exit 1; }
[ "$(field errors_total)" -eq 0 ] || { echo "errors other than sheds" >&2; exit 1; }
[ "$(field check_passed)" = true ] || { echo "the server did not answer normally after the load" >&2; exit 1; }
# The shed replies came from the HTTP limit the server was started with.
grep -q '"phase":"overload"[^}]*"shed_http":[1-9]' "$out/summary.json"
grep -q -- "--max-in-flight 4" "$out/summary.txt"
echo "overload smoke: $shed requests shed, no other error"
