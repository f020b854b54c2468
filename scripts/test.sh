#!/usr/bin/env bash
# The test command: installs dependencies, builds, starts a private
# PostgreSQL, runs the whole suite through ctest, stops PostgreSQL on exit
# (also on failure). Arguments go to ctest.
# Two trees: build/ (gcc; every test, ThreadSanitizer included) and
# build-asan/ (clang with AddressSanitizer + UndefinedBehaviorSanitizer: the
# unit and HTTP server tests again, and the fuzz targets). Both runs happen;
# the command fails if either fails.
source "$(dirname "$0")/prepare.sh"
bash scripts/build_sanitized.sh
jobs=$(nproc 2>/dev/null || echo 2)
status=0
(cd build && ctest --output-on-failure --timeout 600 -j "$jobs" "$@") || status=1
(cd build-asan && ctest --output-on-failure --timeout 600 -j "$jobs" "$@") || status=1
exit $status
