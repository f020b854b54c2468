#!/usr/bin/env bash
# scripts/pg.sh's standby (issue 15): a real primary and a hot standby fed by
# streaming replication. Asserted: a write on the primary is replayed on the
# standby, which refuses writes; with replay paused the standby stays behind
# (its replay LSN below the primary's) and serves the old data; resumed, it
# catches up; with the primary killed and the standby promoted, the standby
# takes writes on a new timeline (the first 8 hex digits of its WAL file
# name). Every wait is bounded: it polls a condition for at most 60 s.
set -euo pipefail
source "$(dirname "$0")/../../scripts/pg.sh"
pg_start >/dev/null
pg_standby_start >/dev/null
ctl=$LIFELINE_PG_CTL
primary() {
  PGPASSWORD=$(cat "$LIFELINE_PG_PASSWORD_FILE") "$LIFELINE_PG_BINDIR/psql" -X -Atq \
    -h 127.0.0.1 -p "$LIFELINE_PG_PORT" -U lifeline -d lifeline -c "$1"
}
standby() { pg_standby_sql "$1"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# Polls `standby "$1"` until it prints $2 (at most 60 s).
standby_until() {
  local i got=""
  for i in $(seq 600); do
    got=$(standby "$1" 2>/dev/null || true)
    [ "$got" = "$2" ] && return 0
    sleep 0.1
  done
  fail "standby: '$1' gave '$got', expected '$2'"
}

primary "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"
standby_until "SELECT count(*) FROM t" 1
[ "$(standby "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not in recovery"
if standby "INSERT INTO t VALUES (9)" 2>/dev/null; then fail "the standby took a write"; fi

bash "$ctl" standby-pause
standby_until "SELECT pg_get_wal_replay_pause_state()" paused
primary "INSERT INTO t VALUES (2)"
lsn=$(primary "SELECT pg_current_wal_lsn()")
[ "$(standby "SELECT count(*) FROM t")" = 1 ] || fail "a paused standby replayed a write"
[ "$(standby "SELECT pg_wal_lsn_diff('$lsn', pg_last_wal_replay_lsn()) > 0")" = t ] \
  || fail "a paused standby's replay LSN is not behind the primary's"

bash "$ctl" standby-resume
standby_until "SELECT count(*) FROM t" 2
[ "$(standby "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$lsn') >= 0")" = t ] \
  || fail "the resumed standby's replay LSN is behind"

bash "$ctl" kill
bash "$ctl" promote
standby_until "SELECT pg_is_in_recovery()" f
standby "INSERT INTO t VALUES (3)"
[ "$(standby "SELECT count(*) FROM t")" = 3 ] || fail "the promoted standby lost a write"
[ "$(standby "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")" = 00000002 ] \
  || fail "the promoted standby is not on timeline 2"
echo "pg.sh standby: replicated, paused, resumed, promoted to timeline 2"
