#!/usr/bin/env bash
# The standby scenario, short, on a primary and a hot standby of its own
# (scripts/pg.sh; both stopped on exit, also on failure): the primary is
# killed under load and the standby promoted. lifeline-bench must finish with
# no error while a backend was up (its exit status says so), and writes must
# reach PostgreSQL again after the promotion. Numbers are the benchmark's.
set -euo pipefail
bench=$1
out=$2
cache=$3
source "$(dirname "$0")/../../scripts/pg.sh"
pg_start >/dev/null
pg_standby_start >/dev/null
rm -rf "$out"
"$bench" --seconds 16 --docs 2000 --queries 100 --concurrency 4 --scenario standby \
  --out "$out" --cache-dir "$cache"
grep -q "pg-kill" "$out/events.csv"
grep -q "pg-promote" "$out/events.csv"
grep -q "pg-promote .*first write applied on PostgreSQL again after" "$out/summary.txt"
