#!/usr/bin/env bash
# docs/openapi.yaml against the real server (issue 17): openapi_check.py
# sends real requests and validates every reply against the document.
#
#   tests/openapi/openapi_test.sh build/bin/lifeline responses
#       a private PostgreSQL and three servers: "main" (PostgreSQL and a
#       vector store, a bearer and an admin token), "limits" (a memory
#       backend, max_in_flight 1, short deadlines, a connection cap) and
#       "slow" (a database of its own, hedging off, a long attempt timeout:
#       a frozen database makes a 504; it is stopped under load for the
#       503 of a stop). Success and every error class, validated.
#   tests/openapi/openapi_test.sh build/bin/lifeline routes
#       one server (a memory backend, tokens; no PostgreSQL): the document's
#       paths and methods equal the route table in api/request_parser.cpp
#       and what the running server answers (405 Allow headers).
#
# Servers listen on port 0 (the kernel picks a free one; each prints it) and
# are waited for with a deadline; everything started here is stopped on
# exit, also on failure. Needs /usr/bin/python3 with python3-jsonschema and
# python3-yaml (scripts/deps.sh).
set -euo pipefail
binary=$(realpath "${1:?usage: openapi_test.sh LIFELINE_BINARY [responses|routes]}")
mode=${2:-responses}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/scripts/exit_hooks.sh"
python=/usr/bin/python3
"$python" -c 'import jsonschema, yaml' \
  || { echo "openapi_test.sh: needs /usr/bin/python3 with python3-jsonschema and python3-yaml" >&2; exit 1; }

case "$mode" in
  responses)
    # shellcheck source=scripts/pg.sh disable=SC1091
    source "$root/scripts/pg.sh"
    pg_start >/dev/null
    ;;
  routes) ;;
  *) echo "openapi_test.sh: unknown mode '$mode' (responses or routes)" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/lifeline-openapi.XXXXXX")
servers=()

# Stops every server this script started (SIGTERM, then SIGKILL past 30 s),
# shows their logs if the run failed, removes the work directory.
openapi_cleanup() {
  local rc=$? name pid deadline
  for name in "${servers[@]}"; do
    pid=$(cat "$work/$name/pid" 2>/dev/null) || continue
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "${servers[@]}"; do
    pid=$(cat "$work/$name/pid" 2>/dev/null) || continue
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
      echo "--- server '$name' (last lines of its log)" >&2
      tail -n 40 "$work/$name/stderr" >&2 || true
    fi
  done
  rm -rf "$work"
  return "$rc"
}

add_exit_hook openapi_cleanup

# start_server NAME ARGS...: `lifeline serve` in the background, on a port
# of its own, with a data directory of its own.
start_server() {
  local name=$1
  shift
  mkdir -p "$work/$name/data"
  "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/$name/data" --log-level warn "$@" \
    >"$work/$name/stdout" 2>"$work/$name/stderr" &
  echo $! >"$work/$name/pid"
  servers+=("$name")
}

# await_server NAME: waits (60 s at most) for its "listening on" line, which
# it prints once its backends are ready; prints its URL.
await_server() {
  local name=$1 pid deadline url
  pid=$(cat "$work/$name/pid")
  deadline=$((SECONDS + 60))
  while :; do
    url=$(sed -n 's|^lifeline: listening on \(http://[0-9.]*:[0-9]*\)$|\1|p' "$work/$name/stdout" | head -n 1)
    [ -n "$url" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "openapi_test.sh: server '$name' exited before listening:" >&2
      cat "$work/$name/stderr" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "openapi_test.sh: server '$name' not listening after 60 s" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$url"
}

write_token() { (umask 077; printf '%s\n' "$2" >"$1"); }

if [ "$mode" = routes ]; then
  mkdir -p "$work/routes"
  write_token "$work/routes/token" "openapi-user-$RANDOM$RANDOM"
  write_token "$work/routes/admin-token" "openapi-admin-$RANDOM$RANDOM"
  printf '[[backends]]\nname = "cache"\nkind = "memory"\n' >"$work/routes/lifeline.toml"
  start_server routes --config "$work/routes/lifeline.toml" --token-file "$work/routes/token" \
    --admin-token-file "$work/routes/admin-token"
  url=$(await_server routes)
  "$python" "$here/openapi_check.py" --doc "$root/docs/openapi.yaml" --source "$root" routes --url "$url"
  exit 0
fi

# "main": PostgreSQL first, then the vector store flags add without a config file.
mkdir -p "$work/main"
write_token "$work/main/token" "openapi-user-$RANDOM$RANDOM"
write_token "$work/main/admin-token" "openapi-admin-$RANDOM$RANDOM"
start_server main --postgres "$LIFELINE_PG_DSN" --token-file "$work/main/token" \
  --admin-token-file "$work/main/admin-token"

# "limits": small deadlines and caps, so that each refusal is cheap to provoke.
limits_max_connections=8
mkdir -p "$work/limits"
cat >"$work/limits/lifeline.toml" <<EOF
max_batch = 3
header_timeout_ms = 2000
body_timeout_ms = 2000
max_in_flight = 1
max_connections = $limits_max_connections
[[backends]]
name = "cache"
kind = "memory"
EOF
start_server limits --config "$work/limits/lifeline.toml"

# "slow": its own database. PostgreSQL is asked first (no hedging, and never
# demoted as an outlier); with an attempt timeout past the request's, a
# frozen database holds a read for the whole request_timeout_ms (then 504),
# long enough to stop the server under it. No probes and no circuit opening
# meanwhile.
PGPASSWORD=$(cat "$LIFELINE_PG_PASSWORD_FILE") "$LIFELINE_PG_BINDIR/createdb" openapi_slow
mkdir -p "$work/slow"
cat >"$work/slow/lifeline.toml" <<EOF
hedging = false
outlier_factor = 0
probe_interval_ms = 3600000
breaker_failures = 1000
attempt_timeout_ms = 120000
request_timeout_ms = 6000
shutdown_grace_ms = 2000
[[backends]]
name = "vectors"
kind = "hnsw"
priority = 2
EOF
start_server slow --config "$work/slow/lifeline.toml" \
  --postgres "host=127.0.0.1 port=$LIFELINE_PG_PORT user=lifeline dbname=openapi_slow"

main_url=$(await_server main)
limits_url=$(await_server limits)
slow_url=$(await_server slow)
slow_pid=$(cat "$work/slow/pid")

"$python" "$here/openapi_check.py" --doc "$root/docs/openapi.yaml" --source "$root" responses \
  --main "$main_url" --token-file "$work/main/token" --admin-token-file "$work/main/admin-token" \
  --limits "$limits_url" --limits-max-connections "$limits_max_connections" \
  --slow "$slow_url" --slow-pid "$slow_pid" --pg-ctl "$root/scripts/pg.sh"

# The stopped server exits 0 (the checker saw it go).
if wait "$slow_pid"; then
  echo "ok   slow: the server stopped under load exited 0"
else
  rc=$?
  echo "FAIL slow: the server stopped under load exited $rc" >&2
  exit 1
fi
