#!/usr/bin/env bash
# A private Prometheus (Debian's /usr/bin/prometheus) for tests: its own
# configuration and TSDB in a temporary directory, a free port on 127.0.0.1,
# one scrape job for a lifeline server, docs/alerts.yml loaded as its rule
# file; stopped and its directory removed when the shell that started it
# exits (also on failure), after the cleanups already registered.
#
#   source scripts/prometheus.sh
#   prometheus_start 127.0.0.1:8080 [SCRAPE_INTERVAL]   # default 1s; exports
#                                  # LIFELINE_PROM_URL (http://127.0.0.1:PORT)
#                                  # and LIFELINE_PROM_DIR
#   prometheus_query 'up'          # GET /api/v1/query, the JSON answer on stdout
#
# The job is named "lifeline"; rules are evaluated every second. Call it after
# pg_start (scripts/pg.sh): pg_start sets its EXIT trap with `trap pg_cleanup
# EXIT`, replacing whatever was registered before it. Later hooks chain
# (add_exit_hook, scripts/exit_hooks.sh).
# Prometheus runs as whoever calls this, root included.
set -euo pipefail

# shellcheck source=scripts/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
source "$(dirname "${BASH_SOURCE[0]}")/exit_hooks.sh"

PROMETHEUS_SH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Starts Prometheus from $LIFELINE_PROM_DIR/prometheus.yml on port $1 and
# waits until /-/ready answers (at most 30 s). Returns 2 when the port was
# taken (another process bound it after free_port), 1 on any other failure.
prometheus_run() {
  local dir=$LIFELINE_PROM_DIR port=$1 pid
  : >"$dir/prometheus.log"
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1d \
    --log.level=warn >>"$dir/prometheus.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  disown "$pid" 2>/dev/null || true # its end (a kill) is no job report in the caller's shell
  for _ in $(seq 300); do
    if curl -fsS -m 1 "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$dir/pid"
      grep -q "address already in use" "$dir/prometheus.log" && return 2
      cat "$dir/prometheus.log" >&2
      return 1
    fi
    sleep 0.1 # waiting for a server process to listen, bounded above
  done
  echo "prometheus.sh: not ready within 30 s" >&2
  cat "$dir/prometheus.log" >&2
  return 1
}

prometheus_start() {
  local target=${1:?usage: prometheus_start HOST:PORT [SCRAPE_INTERVAL]} interval=${2:-1s}
  local dir port try rc rules
  command -v prometheus >/dev/null \
    || { echo "prometheus.sh: no prometheus (apt-get install prometheus)" >&2; return 1; }
  case $interval in *[0-9]) interval=${interval}s ;; esac # "2" means 2s
  rules=$PROMETHEUS_SH_DIR/../docs/alerts.yml
  [ -f "$rules" ] || { echo "prometheus.sh: no $rules" >&2; return 1; }
  rules=$(cd "$(dirname "$rules")" && pwd)/alerts.yml
  dir=$(mktemp -d "${TMPDIR:-/tmp}/lifeline-prometheus.XXXXXX")
  export LIFELINE_PROM_DIR=$dir
  add_exit_hook prometheus_cleanup
  # scrape_timeout may not exceed scrape_interval (the default 10s would).
  cat >"$dir/prometheus.yml" <<CONF
global:
  scrape_interval: $interval
  scrape_timeout: $interval
  evaluation_interval: 1s
rule_files:
  - "$rules"
scrape_configs:
  - job_name: lifeline
    static_configs:
      - targets: ["$target"]
CONF
  for try in 1 2 3; do
    port=$(free_port)
    rc=0
    prometheus_run "$port" || rc=$?
    [ "$rc" -eq 0 ] && break
    if [ "$rc" -ne 2 ] || [ "$try" -eq 3 ]; then
      [ "$rc" -eq 2 ] && cat "$dir/prometheus.log" >&2
      return 1
    fi
  done
  export LIFELINE_PROM_URL="http://127.0.0.1:$port"
  echo "prometheus.sh: Prometheus on $LIFELINE_PROM_URL scraping $target every $interval (data in $dir)"
}

# An instant query ($1) through the HTTP API; extra arguments are more
# curl --data-urlencode parameters (time=..., e.g.).
prometheus_query() {
  local q=$1
  shift
  local extra=() a
  for a in "$@"; do extra+=(--data-urlencode "$a"); done
  curl -fsS -m 10 -G "$LIFELINE_PROM_URL/api/v1/query" --data-urlencode "query=$q" "${extra[@]}"
}

prometheus_stop() {
  local pid
  pid=$(cat "$LIFELINE_PROM_DIR/pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do # a clean stop takes well under a second
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done # SIGKILL: ends promptly
  rm -f "$LIFELINE_PROM_DIR/pid"
}

prometheus_cleanup() {
  local rc=$?
  if [ -n "${LIFELINE_PROM_DIR:-}" ] && [ -d "$LIFELINE_PROM_DIR" ]; then
    prometheus_stop
    rm -rf "$LIFELINE_PROM_DIR"
  fi
  return $rc
}
