#!/usr/bin/env bash
# Runs one benchmark from build/bin with everything it needs: dependencies,
# a build, and a private PostgreSQL (stopped on exit).
#   bash scripts/bench.sh lifeline-bench-postgres --connections 4 --seconds 5
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/bench.sh BENCHMARK [ARGS...]}
shift
bash scripts/deps.sh
bash scripts/build.sh
source scripts/pg.sh
pg_start
"build/bin/$name" "$@"
