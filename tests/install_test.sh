#!/usr/bin/env bash
# Installs the built libraries into a scratch prefix, then configures, builds
# and runs examples/embed against it with find_package(lifeline COMPONENTS
# core), and checks that the binary depends on neither libpq nor
# prometheus-cpp. Also resolves every component once (configure only).
set -euo pipefail
build=$1
src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
launcher=$(command -v ccache || true)
cmake -S "$src/examples/embed" -B "$scratch/all" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DEMBED_ALL_COMPONENTS=ON >/dev/null
cmake -S "$src/examples/embed" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" >/dev/null
cmake --build "$scratch/build" -j 2 >/dev/null
deps=$(ldd "$scratch/build/embed")
if grep -E 'libpq|libpqxx|prometheus' <<<"$deps"; then
  echo "install test: the core-only binary depends on libpq or prometheus-cpp" >&2
  exit 1
fi
"$scratch/build/embed"
