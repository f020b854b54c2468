#!/usr/bin/env bash
# The test command: installs dependencies, builds, starts a private
# PostgreSQL, runs the whole suite through ctest, stops PostgreSQL on exit
# (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
source scripts/pg.sh
pg_start
cd build
ctest --output-on-failure --timeout 600 -j "$(nproc 2>/dev/null || echo 2)" "$@"
