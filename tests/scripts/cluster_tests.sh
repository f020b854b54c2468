#!/usr/bin/env bash
# Runs cluster cases ("[.cluster]..." in lifeline-http-tests: several
# `lifeline serve --node --etcd` processes) on a PostgreSQL and an etcd of
# their own (scripts/pg.sh, scripts/etcd.sh), all stopped on exit, also on
# failure (the test's server processes are stopped by the test).
#   tests/scripts/cluster_tests.sh build/bin/lifeline-http-tests "[.cluster][leader]"
set -euo pipefail
tests=${1:?usage: cluster_tests.sh LIFELINE_HTTP_TESTS [TAGS]}
source "$(dirname "$0")/../../scripts/pg.sh"
source "$(dirname "$0")/../../scripts/etcd.sh"
pg_start >/dev/null
etcd_start >/dev/null
"$tests" "${2:-[.cluster]}"
