#!/usr/bin/env bash
# Installs the built library into a scratch prefix, then configures, builds
# and runs examples/embed against it with find_package(lifeline).
set -euo pipefail
build=$1
src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$src/examples/embed" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" >/dev/null
cmake --build "$scratch/build" -j 2 >/dev/null
"$scratch/build/embed"
