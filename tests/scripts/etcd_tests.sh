#!/usr/bin/env bash
# Runs the etcd cases (lifeline-etcd-tests: the v3 JSON gateway client and the
# write-leader election, issue 16) against a private etcd (scripts/etcd.sh),
# stopped on exit, also on failure.
#   tests/scripts/etcd_tests.sh build/bin/lifeline-etcd-tests [TAGS]
set -euo pipefail
tests=${1:?usage: etcd_tests.sh LIFELINE_ETCD_TESTS [TAGS]}
source "$(dirname "$0")/../../scripts/etcd.sh"
etcd_start >/dev/null
"$tests" "${2:-[etcd]}"
