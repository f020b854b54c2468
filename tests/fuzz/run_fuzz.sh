#!/usr/bin/env bash
# Runs one fuzz target for a bounded time on a copy of its seed corpus: new
# inputs and crash files go to the build tree, never to the source tree.
#   run_fuzz.sh FUZZER SEED_CORPUS_DIR WORK_DIR SECONDS
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$seeds"/. "$work/corpus/"
exec "$fuzzer" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1
