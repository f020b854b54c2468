#!/usr/bin/env bash
# The main job: installs dependencies, builds, starts a private PostgreSQL,
# then runs `lifeline serve` on 127.0.0.1:8080 over it and the vector store
# in build/data (Ctrl-C stops both). Extra arguments go to `lifeline serve`.
# Only the server is built: a first run does not wait for the tests and
# benchmarks (scripts/test.sh builds those).
LIFELINE_TARGETS=lifeline-server
source "$(dirname "$0")/prepare.sh"
mkdir -p build/data
build/bin/lifeline serve --listen 127.0.0.1:8080 --data-dir build/data \
  --postgres "$LIFELINE_PG_DSN" "$@"
