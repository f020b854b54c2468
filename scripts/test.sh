#!/usr/bin/env bash
# The test command: installs dependencies, builds, starts a private
# PostgreSQL, runs the whole suite through ctest, stops PostgreSQL on exit
# (also on failure). Arguments go to ctest.
source "$(dirname "$0")/prepare.sh"
cd build
ctest --output-on-failure --timeout 600 -j "$(nproc 2>/dev/null || echo 2)" "$@"
