#!/usr/bin/env bash
# `lifeline status` against the real server: every backend serving (exit 0,
# both in the table), PostgreSQL stopped under reads (exit 1, "degraded",
# PostgreSQL not serving, the fallbacks listed), the server gone (exit 2),
# and --watch redrawing until interrupted; with the server's token it shows
# the backends' last errors, with a wrong one it says the token was refused.
# Its output is not a terminal here: no colour codes in it.
#   tests/server/status_command_test.sh build/bin/lifeline
set -euo pipefail
lifeline=${1:?usage: status_command_test.sh LIFELINE}
source "$(dirname "$0")/../support/server_script.sh" # $root, PostgreSQL, $work, $server_pid
watch_pid=
add_exit_hook 'stop_pid "$watch_pid"'
port=$(free_port)
url="http://127.0.0.1:$port"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$work/token"
echo "not-the-token" >"$work/wrong"
# A circuit that stays open once PostgreSQL fails (10 minutes before a
# trial): a half-open one would count PostgreSQL as serving again between
# two checks.
"$lifeline" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --token-file "$work/token" \
  --breaker-open-ms 600000 --postgres "$LIFELINE_PG_DSN" >"$work/out.log" 2>"$work/err.log" &
server_pid=$!
auth=(-m 10 -H "Authorization: Bearer $(cat "$work/token")")

# Runs `lifeline status`, keeping its output in $work/status and its exit
# code in $code.
status() {
  set +e
  "$lifeline" status --url "$url" "$@" >"$work/status" 2>&1
  code=$?
  set -e
}
# Polls until `lifeline status` exits with $1: 60 s at most.
await_code() {
  local want=$1
  shift
  for _ in $(seq 300); do
    status "$@"
    [ "$code" -eq "$want" ] && return 0
    sleep 0.2
  done
  cat "$work/status"
  echo "FAIL: lifeline status never exited $want (last: $code)"
  return 1
}
expect() {
  grep -Eq "$2" "$work/status" || { cat "$work/status"; echo "FAIL: $1 (no match for $2)"; exit 1; }
  echo "ok: $1"
}

await_code 0
expect "healthy: the state" "^lifeline $url: ok"
expect "healthy: postgres serves" '^postgres +postgres +up +closed +yes'
expect "healthy: vectors serves" '^vectors +hnsw +up +closed +yes'
if grep -q $'\x1b\\[' "$work/status"; then echo "FAIL: colour codes in output that is no terminal"; exit 1; fi

curl -sf "${auth[@]}" -X PUT "$url/v1/collections/docs" -d '{"dimension":2}' >/dev/null
for i in $(seq 10); do
  curl -sf "${auth[@]}" -X PUT "$url/v1/collections/docs/documents/d$i" -d "{\"vector\":[$i,1]}" >/dev/null
done
bash "$root/scripts/pg.sh" stop >/dev/null
for i in $(seq 30); do curl -s "${auth[@]}" "$url/v1/collections/docs/documents/d$((i % 10 + 1))" >/dev/null; done
await_code 1
expect "degraded: the state" "^lifeline $url: degraded"
expect "degraded: postgres does not serve" '^postgres +postgres +[a-z]+ +[a-z_]+ +no'
expect "degraded: vectors serves" '^vectors +hnsw +up +closed +yes'
expect "degraded: the reads that fell over" 'fallback get moved from postgres to vectors \((failed|unhealthy)\)'
if grep -q '^postgres: ' "$work/status"; then echo "FAIL: an error text without the token"; exit 1; fi
await_code 1 --token-file "$work/token"
expect "with the token: postgres's last error" '^postgres: .+'
status --token-file "$work/wrong"
expect "a wrong token: said so" 'the token was not accepted'

# --watch redraws until interrupted (and then exits with the last view's code).
"$lifeline" status --url "$url" --watch >"$work/watch" 2>&1 &
watch_pid=$!
for _ in $(seq 300); do
  [ "$(grep -c "^lifeline $url:" "$work/watch" || true)" -ge 2 ] && break
  sleep 0.1
done
kill -INT "$watch_pid"
set +e; wait "$watch_pid"; watch_code=$?; set -e
watch_pid=
[ "$(grep -c "^lifeline $url:" "$work/watch")" -ge 2 ] || { cat "$work/watch"; echo "FAIL: --watch did not redraw"; exit 1; }
[ "$watch_code" -eq 1 ] || { echo "FAIL: --watch exited $watch_code, not 1 (degraded)"; exit 1; }
echo "ok: --watch redraws until interrupted"

kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=
status
[ "$code" -eq 2 ] || { cat "$work/status"; echo "FAIL: exit $code with the server gone, not 2"; exit 1; }
expect "gone: says so" 'unreachable'
echo "lifeline status: ok"
