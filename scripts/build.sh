#!/usr/bin/env bash
# Configures and builds Lifeline into build/ (Release with debug info):
# everything, or only the targets named as arguments (scripts/run.sh builds
# the server alone: `bash scripts/build.sh lifeline-server`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths under the checkout hash relative, so a fresh clone elsewhere (CI)
# reuses the compiler cache.
export CCACHE_BASEDIR="$PWD"
# Debug info names the build directory; without this ccache would hash it
# too, and a clone in another folder would miss every entry.
export CCACHE_NOHASHDIR=true
jobs=$(nproc 2>/dev/null || echo 2)
# LIFELINE_NATIVE=ON: hnswlib's distance code for this CPU (scripts/bench.sh).
cmake -S . -B build -DCMAKE_BUILD_TYPE="${LIFELINE_BUILD_TYPE:-RelWithDebInfo}" \
  -DLIFELINE_NATIVE="${LIFELINE_NATIVE:-OFF}" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j "$jobs" "${targets[@]}"
