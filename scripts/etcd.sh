#!/usr/bin/env bash
# A private single-member etcd (Debian's etcd-server) for tests and benchmarks:
# its own data directory, free client and peer ports on 127.0.0.1, stopped
# when the shell that started it exits (also on failure, after whatever
# cleanup was already registered, e.g. scripts/pg.sh's).
#
#   source scripts/etcd.sh && etcd_start   # exports LIFELINE_ETCD_URL, _DIR, _CTL
#   scripts/etcd.sh kill|start|pause|resume|status   # act on that etcd
#                                          # (reads $LIFELINE_ETCD_DIR)
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
source "$(dirname "${BASH_SOURCE[0]}")/exit_hooks.sh"

# Starts (or starts again) the member described by $LIFELINE_ETCD_DIR and
# waits until it answers /health (at most 30 s).
etcd_run() {
  local dir=$LIFELINE_ETCD_DIR i
  # shellcheck disable=SC1091
  source "$dir/ports"
  etcd --name lifeline --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "lifeline=http://127.0.0.1:$peer" \
    --log-level warn >>"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/pid"
  disown $! 2>/dev/null || true # its end (a kill) is no job report in the caller's shell
  for i in $(seq 300); do
    if curl -fsS -m 1 "http://127.0.0.1:$client/health" 2>/dev/null | grep -q '"health":"true"'; then
      return 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/etcd.log" >&2; return 1; }
    sleep 0.1 # waiting for a server process to listen, bounded above
  done
  cat "$dir/etcd.log" >&2
  return 1
}

etcd_start() {
  command -v etcd >/dev/null || { echo "etcd.sh: no etcd (apt-get install etcd-server)" >&2; return 1; }
  local dir client peer
  dir=$(mktemp -d "${TMPDIR:-/tmp}/lifeline-etcd.XXXXXX")
  client=$(free_port)
  peer=$(free_port)
  while [ "$peer" = "$client" ]; do peer=$(free_port); done
  printf 'client=%s\npeer=%s\n' "$client" "$peer" >"$dir/ports"
  export LIFELINE_ETCD_DIR=$dir
  add_exit_hook etcd_cleanup
  etcd_run
  export LIFELINE_ETCD_URL="http://127.0.0.1:$client"
  export LIFELINE_ETCD_CTL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/etcd.sh"
  echo "etcd.sh: etcd running on 127.0.0.1:$client (data in $dir)"
}

etcd_stop_member() {
  local pid
  pid=$(cat "$LIFELINE_ETCD_DIR/pid" 2>/dev/null) || return 0
  kill -CONT "$pid" 2>/dev/null || true # a paused member would never exit
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done # SIGKILL: ends promptly
  rm -f "$LIFELINE_ETCD_DIR/pid"
}

etcd_cleanup() {
  local rc=$?
  if [ -n "${LIFELINE_ETCD_DIR:-}" ] && [ -d "$LIFELINE_ETCD_DIR" ]; then
    etcd_stop_member
    rm -rf "$LIFELINE_ETCD_DIR"
  fi
  return $rc
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  : "${LIFELINE_ETCD_DIR:?run etcd_start first (source scripts/etcd.sh)}"
  case "${1:-}" in
    kill) etcd_stop_member ;;
    start) etcd_run ;;
    pause) kill -STOP "$(cat "$LIFELINE_ETCD_DIR/pid")" ;;
    resume) kill -CONT "$(cat "$LIFELINE_ETCD_DIR/pid")" ;;
    status) kill -0 "$(cat "$LIFELINE_ETCD_DIR/pid" 2>/dev/null)" 2>/dev/null ;;
    *) echo "usage: $0 kill|start|pause|resume|status" >&2
       exit 2 ;;
  esac
fi
