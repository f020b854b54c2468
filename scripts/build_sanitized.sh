#!/usr/bin/env bash
# Configures and builds build-asan/: clang 15 with AddressSanitizer and
# UndefinedBehaviorSanitizer on every target, and the libFuzzer targets
# (tests/fuzz/). Only what its tests need: the unit tests, the server with
# its HTTP tests, the fuzz targets (no benchmarks, examples, ThreadSanitizer,
# PostgreSQL-only or fault tests: the main tree runs those).
# (clang 15 rejects lambdas that capture structured bindings, valid C++20:
# copy them into variables first.)
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths under the checkout hash relative, so a fresh clone elsewhere (CI)
# reuses the compiler cache.
export CCACHE_BASEDIR="$PWD"
# Debug info names the build directory; without this ccache would hash it
# too, and a clone in another folder would miss every entry.
export CCACHE_NOHASHDIR=true
jobs=$(nproc 2>/dev/null || echo 2)
# A tree configured with another compiler starts afresh.
if [ -f build-asan/CMakeCache.txt ] && ! grep -q 'CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-15$' build-asan/CMakeCache.txt; then
  rm -rf build-asan
fi
cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++-15 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DLIFELINE_SANITIZE=address,undefined -DLIFELINE_FUZZ=ON \
  -DLIFELINE_BUILD_BENCH=OFF -DLIFELINE_BUILD_EXAMPLES=OFF -DLIFELINE_TSAN_TESTS=OFF \
  -DLIFELINE_POSTGRES_TESTS=OFF >/dev/null
cmake --build build-asan -j "$jobs"
