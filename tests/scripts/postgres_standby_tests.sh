#!/usr/bin/env bash
# Runs PostgreSQL standby cases ("[.standby]..." in lifeline-postgres-tests)
# against a primary and a streaming hot standby of their own (scripts/pg.sh),
# both stopped on exit, also on failure. Cases kill and promote, so ctest
# runs one tag at a time, each on a fresh pair.
#   tests/scripts/postgres_standby_tests.sh build/bin/lifeline-postgres-tests "[.standby][paused]"
set -euo pipefail
tests=${1:?usage: postgres_standby_tests.sh LIFELINE_POSTGRES_TESTS [TAGS]}
tags=${2:-[.standby]}
source "$(dirname "$0")/../../scripts/pg.sh"
pg_start >/dev/null
pg_standby_start >/dev/null
"$tests" "$tags"
