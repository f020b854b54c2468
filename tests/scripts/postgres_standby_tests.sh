#!/usr/bin/env bash
# Runs the PostgreSQL standby cases ("[.standby]" in lifeline-postgres-tests)
# against a primary and a streaming hot standby of their own (scripts/pg.sh),
# both stopped on exit, also on failure.
#   tests/scripts/postgres_standby_tests.sh build/bin/lifeline-postgres-tests
set -euo pipefail
tests=${1:?usage: postgres_standby_tests.sh LIFELINE_POSTGRES_TESTS}
source "$(dirname "$0")/../../scripts/pg.sh"
pg_start >/dev/null
pg_standby_start >/dev/null
"$tests" "[.standby]"
