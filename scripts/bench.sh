#!/usr/bin/env bash
# Runs one benchmark from build/bin with everything it needs: dependencies,
# a build, and a private PostgreSQL (stopped on exit).
#   bash scripts/bench.sh lifeline-bench-postgres --connections 4 --seconds 5
name=${1:?usage: scripts/bench.sh BENCHMARK [ARGS...]}
shift
# Benchmarks build hnswlib's distance code for this CPU (LIFELINE_NATIVE=OFF
# in the environment measures the portable build instead).
export LIFELINE_NATIVE="${LIFELINE_NATIVE:-ON}"
source "$(dirname "$0")/prepare.sh"
# The standby scenario kills the primary and promotes a hot standby of it.
case " $* " in
  *" --scenario standby "*) pg_standby_start >/dev/null ;;
esac
"build/bin/$name" "$@"
