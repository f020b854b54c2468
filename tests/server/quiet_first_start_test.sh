#!/usr/bin/env bash
# A clean first start (a new PostgreSQL database, an empty data directory)
# logs what it does at info level, and no warning: warnings are for what
# needs an operator (issue 17). The server is started, waited for until
# every backend is in sync, and stopped; then its log is read.
#   tests/server/quiet_first_start_test.sh build/bin/lifeline
set -euo pipefail
lifeline=${1:?usage: quiet_first_start_test.sh LIFELINE}
source "$(dirname "$0")/../support/server_script.sh" # $root, PostgreSQL, $work, $server_pid
port=$(free_port)
"$lifeline" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
  --postgres "$LIFELINE_PG_DSN" >"$work/out.log" 2>"$work/err.log" &
server_pid=$!
# Bounded: every backend serving (in sync) within 60 s.
for _ in $(seq 600); do
  if body=$(curl -sf -m 5 "http://127.0.0.1:$port/v1/health" 2>/dev/null) \
     && [ "$(grep -o '"replica":"in_sync"' <<<"$body" | wc -l)" -eq 2 ]; then
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/err.log"; echo "server exited"; exit 1; }
  sleep 0.1
done
grep -q '"status":"ok"' <<<"$body" || { echo "not every backend in sync: $body"; exit 1; }
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=
cat "$work/err.log"
# It said what it did...
grep -q 'first start, taken as the reference copy' "$work/err.log"
grep -q 'vectors: rebuilding -> in_sync' "$work/err.log"
# ...and warned about nothing.
if grep -E ' (warning|error|critical) ' "$work/err.log"; then
  echo "FAIL: a clean first start logged the warnings above"
  exit 1
fi
echo "a clean first start logged no warning"
