#!/usr/bin/env bash
# Issue 16's numbers: write and read throughput with 1, 2 and 3 nodes (each
# node loaded by its own wrk, the results summed, as ratios to one node),
# and the time from a leader kill (-9) to the first acknowledged write with
# three nodes, and the errors meanwhile. Starts its own PostgreSQL and etcd
# (scripts/pg.sh, scripts/etcd.sh) and stops everything on exit.
#   bash bench/cluster/run.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
seconds=${2:-10}
bin=$build/bin/lifeline
source "$root/scripts/pg.sh"
source "$root/scripts/etcd.sh"
pg_start >/dev/null
etcd_start >/dev/null
work=$(mktemp -d /tmp/lifeline-bench.XXXXXX)
pids=()
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
bench_cleanup() {
  stop_nodes
  rm -rf "$work"
}
# Before etcd's and PostgreSQL's own cleanups, which stay registered.
add_exit_hook bench_cleanup

# Starts nodes n1..nN on HTTP ports 18181.. (fresh data; a fresh key prefix
# is not needed: the leader key goes with the nodes' leases).
start_nodes() {
  local n=$1
  for i in $(seq 1 "$n"); do
    local peers
    peers=$(seq 1 "$n" | { grep -vx "$i" || true; } | sed "s/^/n/" | paste -sd, -)
    local args=(serve --node "n$i" --cluster-listen 127.0.0.1:0 --etcd "$LIFELINE_ETCD_URL"
                --postgres "$LIFELINE_PG_DSN" --data-dir "$work/run$n/n$i" --listen "127.0.0.1:$((18180 + i))"
                --log-level warn)
    [ -n "$peers" ] && args+=(--peers "$peers")
    "$bin" "${args[@]}" >"$work/n$n-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 100); do
      curl -sf "127.0.0.1:$((18180 + i))/v1/health" | grep -q '"leader":"n' && break
      sleep 0.1
    done
  done
  # Every backend in sync on the leader.
  for _ in $(seq 1 100); do
    local ok=1
    for i in $(seq 1 "$n"); do
      local h; h=$(curl -sf "127.0.0.1:$((18180 + i))/v1/health" || true)
      if echo "$h" | grep -q "\"state\":\"leader\",\"reachable\":true}" && echo "$h" | grep -q "\"node\":\"n$i\",\"leader\":\"n$i\""; then
        echo "$h" | grep -q '"replica":"catching_up"\|"replica":"rebuilding"' && ok=0
      fi
    done
    [ $ok = 1 ] && break
    sleep 0.2
  done
}

run_wrk() { # script nodes: prints summed requests/s, errors, worst p99
  local script=$1 n=$2 out=()
  for i in $(seq 1 "$n"); do
    WRK_SEED=$i wrk -t1 -c8 -d"${seconds}s" -s "$here/$script" "http://127.0.0.1:$((18180 + i))" >"$work/wrk-$i.out" 2>&1 &
    out+=($!)
  done
  for p in "${out[@]}"; do wait "$p"; done
  cat "$work"/wrk-*.out | awk '/^RESULT/ {
      for (f = 2; f <= NF; ++f) { split($f, kv, "="); v[kv[1]] += kv[2]; if (kv[1] == "p99_ms" && kv[2] > p99) p99 = kv[2]; if (kv[1] == "seconds" && kv[2] > s) s = kv[2] }
    } END { printf "%.0f %d %.2f\n", v["requests"] / s, v["errors"] + v["non2xx"], p99 }'
  rm -f "$work"/wrk-*.out
}

declare -A writes reads
printf "%-6s %12s %8s %10s %12s %8s %10s\n" nodes "writes/s" errors "p99 ms" "gets/s" errors "p99 ms"
for n in 1 2 3; do
  start_nodes "$n"
  curl -sf -XPUT 127.0.0.1:18181/v1/collections/b -d '{"dimension":8}' >/dev/null || true
  for i in $(seq 1 1000); do
    echo "{\"vector\":[$((i % 13)),1,2,3,4,5,6,7],\"content\":\"seed\"}" | curl -sf -XPUT "127.0.0.1:18181/v1/collections/b/documents/d$i" -d @- >/dev/null
  done
  # Gets first, on the 1000 documents alone; then the writes.
  read -r r re rp < <(run_wrk get.lua "$n")
  served=$(for i in $(seq 1 "$n"); do curl -s -D - "127.0.0.1:$((18180 + i))/v1/collections/b/documents/d5" -o /dev/null | tr -d '\r' | awk -v n="n$i" '/^X-Served-By/ {printf "%s:%s ", n, $2}'; done)
  read -r w we wp < <(run_wrk put.lua "$n")
  writes[$n]=$w; reads[$n]=$r
  printf "%-6s %12s %8s %10s %12s %8s %10s   gets served by %s\n" "$n" "$w" "$we" "$wp" "$r" "$re" "$rp" "$served"
  curl -sf -XDELETE 127.0.0.1:18181/v1/collections/b >/dev/null || true
  stop_nodes
done
for n in 2 3; do
  awk -v n="$n" -v w="${writes[$n]}" -v w1="${writes[1]}" -v r="${reads[$n]}" -v r1="${reads[1]}" \
    'BEGIN { printf "%d nodes / 1 node: writes %.2fx, gets %.2fx\n", n, w / w1, r / r1 }'
done

# The leader killed (-9) under a sequential writer on a follower.
start_nodes 3
curl -sf -XPUT 127.0.0.1:18181/v1/collections/b -d '{"dimension":8}' >/dev/null || true
leader=$(curl -sf 127.0.0.1:18181/v1/health | sed 's/.*"leader":"n\([0-9]\)".*/\1/')
follower=$(( leader % 3 + 1 ))
leader_pid=${pids[$((leader - 1))]}
echo "leader n$leader (pid $leader_pid) killed after 3 s; writes through n$follower:"
python3 "$here/leader_kill.py" "http://127.0.0.1:$((18180 + follower))" "$leader_pid" 3 20
