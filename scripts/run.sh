#!/usr/bin/env bash
# The main job: installs dependencies, builds, starts a private PostgreSQL
# and runs the failover demo against it; stops PostgreSQL on exit.
source "$(dirname "$0")/prepare.sh"
build/bin/lifeline-demo "$@"
