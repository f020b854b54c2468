#!/usr/bin/env bash
# Sourced by the test scripts that run `lifeline serve` against a private
# PostgreSQL (tests/server/*.sh, tests/browser/*.sh): sets $root, starts
# PostgreSQL (scripts/pg.sh), makes the scratch directory $work, and on exit
# stops the process in $server_pid, removes $work and stops PostgreSQL, in
# that order. A script adds its own with `add_exit_hook 'stop_pid "$x_pid"'`.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/pg.sh"
source "$root/scripts/exit_hooks.sh"
pg_start >/dev/null # sets the EXIT trap (pg_cleanup) the hooks below run before
work=$(mktemp -d "${TMPDIR:-/tmp}/lifeline-test.XXXXXX")
server_pid=

# stop_pid PID: ends a background process of the script (none if empty).
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

add_exit_hook 'rm -rf "$work"'
add_exit_hook 'stop_pid "$server_pid"'
