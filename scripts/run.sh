#!/usr/bin/env bash
# The main job: installs dependencies, builds, starts a private PostgreSQL
# and runs the failover demo against it; stops PostgreSQL on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
source scripts/pg.sh
pg_start
build/bin/lifeline-demo "$@"
