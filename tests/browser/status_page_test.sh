#!/usr/bin/env bash
# The status page (GET /) in a real headless Chromium while a backend fails:
# PostgreSQL is stopped under reads, and the page, rendered from
# /v1/status by its own script, must show the server degraded, PostgreSQL
# not serving, the vector store serving, the reads that fell over in its
# event list and a chart per backend. The server runs with a bearer token:
# the page itself needs none, and shows that error texts need it.
#   tests/browser/status_page_test.sh build/bin/lifeline [SCREENSHOT.png]
set -euo pipefail
lifeline=${1:?usage: status_page_test.sh LIFELINE [SCREENSHOT]}
screenshot=${2:-}
source "$(dirname "$0")/../support/server_script.sh" # $root, PostgreSQL, $work, $server_pid
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "no chromium (scripts/deps.sh installs it)"; exit 1; }

head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$work/token"
token=$(cat "$work/token")
port=$(free_port)
url="http://127.0.0.1:$port"
# A circuit that stays open once PostgreSQL fails (10 minutes before a
# trial): the page is read seconds after the failure, and a half-open
# circuit would already count PostgreSQL as serving again.
"$lifeline" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --token-file "$work/token" \
  --breaker-open-ms 600000 --postgres "$LIFELINE_PG_DSN" >"$work/out.log" 2>"$work/err.log" &
server_pid=$!
auth=(-m 10 -H "Authorization: Bearer $token")

# Polls `curl URL` until its body matches the pattern: 60 s at most.
await() {
  local what=$1 pattern=$2 body
  for _ in $(seq 600); do
    body=$(curl -s "${auth[@]}" "$url$what" 2>/dev/null || true)
    grep -Eq "$pattern" <<<"$body" && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/err.log"; echo "server exited"; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for $pattern in $what: $body"
  return 1
}
await /v1/health '"status":"ok"'

curl -sf "${auth[@]}" -X PUT "$url/v1/collections/docs" -d '{"dimension":2}' >/dev/null
for i in $(seq 20); do
  curl -sf "${auth[@]}" -X PUT "$url/v1/collections/docs/documents/d$i" \
    -d "{\"vector\":[$i,1],\"content\":\"doc $i\"}" >/dev/null
done

# The failure: PostgreSQL stops, and reads go on.
bash "$root/scripts/pg.sh" stop >/dev/null
for i in $(seq 40); do
  curl -s "${auth[@]}" "$url/v1/collections/docs/documents/d$((i % 20 + 1))" >/dev/null
done
await /v1/status '"name":"postgres"[^}]*"serving":false'
await /v1/status '"kind":"fallback"'

# The page, as a browser renders it: its script fetches /v1/status and
# fills the DOM (virtual time lets it run its first refreshes).
browse() {
  timeout 120 "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$work/chromium" --virtual-time-budget=4000 "$@" 2>>"$work/chromium.log"
}
browse --dump-dom "$url/" >"$work/dom.html" || { cat "$work/chromium.log"; exit 1; }

fail=0
expect() {
  if grep -Eq "$2" "$work/dom.html"; then echo "ok: $1"
  else echo "FAIL: $1 (no match for $2)"; fail=1; fi
}
expect "the server is shown degraded" '<span id="status" class="badge degraded">degraded</span>'
expect "PostgreSQL is shown not serving" '<tr data-backend="postgres"[^>]*data-serving="false"'
expect "PostgreSQL's row says so" 'data-backend="postgres".*not serving'
expect "the vector store is shown serving" '<tr data-backend="vectors"[^>]*data-state="up"[^>]*data-serving="true"'
expect "the reads that fell over are in the event list" '<li data-event="fallback">.*moved from postgres to vectors'
expect "a chart per backend" 'data-chart="vectors"'
expect "error texts are hidden without the token" '<td><span class="muted">token needed</span></td>'
# (The page's own script is in the DOM too: each pattern above matches
# only what the script rendered.)
if [ "$fail" -ne 0 ]; then
  echo "--- DOM ---"; cat "$work/dom.html"; echo "--- chromium ---"; cat "$work/chromium.log"
  exit 1
fi
if [ -n "$screenshot" ]; then
  browse --window-size=1280,1000 --hide-scrollbars --screenshot="$screenshot" "$url/" >/dev/null
  echo "screenshot: $screenshot"
fi
echo "the status page shows the failure"
