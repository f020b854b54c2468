#!/usr/bin/env bash
# add_exit_hook CMD: runs CMD on exit before what the EXIT trap already ran
# (pg.sh's `trap pg_cleanup EXIT`, etcd's or Prometheus' cleanup), instead
# of replacing it. Sourced by scripts/etcd.sh, scripts/prometheus.sh and the
# test scripts that start servers of their own.
# `|| true`: under set -e a failing step (cleanups return the script's
# status) would end the trap before the next one ran; the script's exit
# status stays what it was. The trap's command is read back with eval, so
# one that holds quotes stays whole.
add_exit_hook() {
  local previous=""
  local -a words=()
  eval "words=($(trap -p EXIT))" # trap -- 'COMMAND' EXIT, or nothing
  if [ "${#words[@]}" -ge 3 ]; then previous=${words[2]}; fi
  # shellcheck disable=SC2064
  trap "$1 || true${previous:+; $previous}" EXIT
}
