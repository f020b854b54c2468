#!/usr/bin/env bash
# A real Prometheus scraping a real `lifeline serve` (issue 17):
#
#   prometheus_scrape_test.sh BINARY
#
# A private PostgreSQL (and a streaming standby of it when a dashboard panel
# queries a standby series), BINARY serve on a free port with a temporary
# data directory, Prometheus (scripts/prometheus.sh) scraping it every
# second with docs/alerts.yml loaded. A load of writes, gets and searches
# runs for LIFELINE_SCRAPE_LOAD_S seconds (default 26) with PostgreSQL
# stopped for 10 s in the middle, so reads fall over to the vector store.
# Then, through Prometheus's HTTP API: every panel query of
# docs/grafana-dashboard.json (or $LIFELINE_DASHBOARD) returns data over the
# run (Grafana's $__rate_interval and friends replaced by fixed values);
# every rule of docs/alerts.yml is loaded and evaluates; the alerts the
# outage triggers went pending; the gets the vector store served during the
# outage were counted as fallbacks. Every wait is a poll with a deadline;
# everything started is stopped on exit, also on failure.
set -euo pipefail

binary=$(realpath "${1:?usage: $0 BINARY}")
[ -x "$binary" ] || { echo "no executable $binary" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dashboard=${LIFELINE_DASHBOARD:-$root/docs/grafana-dashboard.json}
load_s=${LIFELINE_SCRAPE_LOAD_S:-26}
outage_at=$((load_s / 4))
outage_s=10
started=$(date +%s)

command -v prometheus >/dev/null || { echo "no prometheus (apt-get install prometheus)" >&2; exit 1; }

# Order matters: pg_start replaces the EXIT trap; the hooks added after it
# (the server's, Prometheus's) chain in front of pg_cleanup.
source "$root/scripts/pg.sh"
source "$root/scripts/prometheus.sh"
pg_start
standby=""
if python3 "$here/prometheus_checks.py" standby "$dashboard"; then
  pg_standby_start
  standby=$LIFELINE_PG_STANDBY_DSN
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lifeline-scrape-test.XXXXXX")
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do # it drains for at most shutdown_drain_ms + shutdown_grace_ms
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  rm -rf "$work"
}
add_exit_hook stop_server

# Starts the server on a free port; another process may take the port
# between free_port and the bind: then once more on another (three tries).
start_server() {
  local try port replicas=""
  if [ -n "$standby" ]; then replicas="read_replicas = [\"$standby\"]"; fi
  for try in 1 2 3; do
    port=$(free_port)
    cat >"$work/lifeline.toml" <<CONF
listen = "127.0.0.1:$port"
data_dir = "$work/data"
log_level = "warn"
probe_interval_ms = 500
shutdown_drain_ms = 2000
shutdown_grace_ms = 2000

[[backends]]
name = "postgres"
kind = "postgres"
priority = 1
conninfo = "$LIFELINE_PG_DSN"
$replicas

[[backends]]
name = "vectors"
kind = "hnsw"
priority = 2
CONF
    "$binary" serve --config "$work/lifeline.toml" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
      if curl -fsS -m 1 "http://127.0.0.1:$port/v1/health" 2>/dev/null | grep -q '"status":"ok"'; then
        url="http://127.0.0.1:$port"
        echo "lifeline serve on $url (pid $server_pid)"
        return 0
      fi
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1 # waiting for the server to listen and its backends to come up, bounded above
    done
    if kill -0 "$server_pid" 2>/dev/null || ! grep -qi "in use" "$work/server.log"; then
      cat "$work/server.log" >&2
      echo "lifeline serve did not become healthy within 30 s" >&2
      return 1
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  done
  cat "$work/server.log" >&2
  return 1
}
url=""
start_server
host_port=${url#http://}

prometheus_start "$host_port" 1s
prom_since=$(date +%s)
python3 "$here/prometheus_checks.py" rules "$LIFELINE_PROM_URL" "$root/docs/alerts.yml"

load_start=$(date +%s)
python3 "$here/scrape_load.py" "$url" "$load_s" "$outage_at" "$outage_s" "$LIFELINE_PG_CTL" \
  "$work/load.json"

kill -0 "$server_pid" 2>/dev/null || { tail -n 50 "$work/server.log" >&2; echo "lifeline serve died under the load" >&2; exit 1; }

# Reads fell over to the vector store while PostgreSQL was down.
python3 - "$work/load.json" <<'PY'
import json, sys
counts = json.load(open(sys.argv[1]))["counts"]
def n(phase, prefix):
    return sum(v for k, v in counts.get(phase, {}).items() if k.startswith(prefix))
gets_vectors = n("outage", "get 200 vectors")
ok = n("before", "get 200") + n("after", "get 200")
print(f"gets served by vectors during the outage: {gets_vectors}; gets answered 200 outside it: {ok}")
if gets_vectors == 0 or ok == 0:
    sys.exit("the load did not see reads fall over to the vector store")
PY

# PostgreSQL back in sync (its handoff log replayed) before the last scrapes.
deadline=$((SECONDS + 60))
until curl -fsS -m 2 "$url/v1/health" 2>/dev/null | grep -q '"status":"ok"'; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    curl -sS -m 2 "$url/v1/health" >&2 || true
    tail -n 50 "$work/server.log" >&2
    echo "postgres not back in sync within 60 s" >&2
    exit 1
  fi
  sleep 0.2 # polling health, bounded above
done
synced=$(date +%s)
echo "all backends in sync again $((synced - load_start)) s after the load started"

# Prometheus has scraped the whole run, up to after the replay.
python3 "$here/prometheus_checks.py" scrapes "$LIFELINE_PROM_URL" lifeline "$prom_since" "$synced"
end=$(($(date +%s) + 1))

failed=0
# The rules met the real series: the outage (10 s, under every `for`) made
# these alerts pending.
python3 "$here/prometheus_checks.py" alerts "$LIFELINE_PROM_URL" "$prom_since" "$end" \
  LifelineCircuitOpen LifelineReplicaCatchingUp LifelineHandoffBacklogGrowing || failed=1
# The reads served by the vector store while PostgreSQL was down counted as
# fallbacks (by reason: unhealthy while its circuit was open, catching_up
# while its handoff log was replayed).
python3 "$here/prometheus_checks.py" nonzero "$LIFELINE_PROM_URL" "$prom_since" "$end" \
  'sum by (reason) (increase(lifeline_fallbacks_total{operation="get",from="postgres",to="vectors"}[5s]))' \
  || failed=1
python3 "$here/prometheus_checks.py" dashboard "$LIFELINE_PROM_URL" "$dashboard" "$prom_since" "$end" \
  || failed=1
if [ "$failed" -ne 0 ]; then
  echo "prometheus scrape test FAILED after $(($(date +%s) - started)) s" >&2
  exit 1
fi
echo "prometheus scrape test passed in $(($(date +%s) - started)) s"
