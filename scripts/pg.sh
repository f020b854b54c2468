#!/usr/bin/env bash
# A private PostgreSQL cluster for tests and the demo: its own data directory,
# a free port on 127.0.0.1, run as a non-root OS user when invoked as root.
#
#   source scripts/pg.sh && pg_start   # exports LIFELINE_PG_* and PG* vars,
#                                      # stops the cluster when the shell exits
#   scripts/pg.sh kill|stop|start|status|pause|resume   # act on that cluster
#                                      # (reads $LIFELINE_PG_DIR)
#   pg_standby_start                   # a hot standby of it (streaming
#                                      # replication), exports LIFELINE_PG_STANDBY_*
#   scripts/pg.sh standby-pause|standby-resume|promote|standby-kill|standby-start
#                                      # replay paused or resumed, the standby
#                                      # promoted, killed or started again
set -euo pipefail

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || { echo "pg.sh: no PostgreSQL server found (apt-get install postgresql-15)" >&2; return 1; }
  echo "$d"
}

# Runs a command as the cluster's owner (a system user when we are root).
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "${LIFELINE_PG_OS_USER:-lifeline-pg}" -- "$@"
  else
    "$@"
  fi
}

source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
source "$(dirname "${BASH_SOURCE[0]}")/exit_hooks.sh"

# Starts a server with `$1` (a pg_ctl wrapper), logging to $2. Another
# process may take its port between free_port and the bind: then a new
# port is appended to its configuration $3 (the last setting wins) and it
# tries again, three times at most. Sets PG_STARTED_PORT.
pg_start_on_free_port() {
  local ctl=$1 log=$2 conf=$3 try
  for try in 1 2 3; do
    PG_STARTED_PORT=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$conf" | tail -n 1)
    "$ctl" -l "$log" -w -t 60 start >/dev/null && return 0
    if [ "$try" -lt 3 ] && grep -q "Address already in use" "$log"; then
      echo "port = $(free_port)" >>"$conf"
      continue
    fi
    cat "$log" >&2
    return 1
  done
}

pg_ctl_cmd() {
  pg_as_owner "$(pg_bindir)/pg_ctl" -D "$LIFELINE_PG_DIR/data" "$@"
}

pg_start() {
  local bindir port dir
  bindir=$(pg_bindir)
  if [ "$(id -u)" -eq 0 ]; then
    export LIFELINE_PG_OS_USER=${LIFELINE_PG_OS_USER:-lifeline-pg}
    id -u "$LIFELINE_PG_OS_USER" >/dev/null 2>&1 \
      || useradd --system --no-create-home --shell /usr/sbin/nologin "$LIFELINE_PG_OS_USER"
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/lifeline-pg.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$LIFELINE_PG_OS_USER" "$dir"
  export LIFELINE_PG_DIR=$dir
  # A random password, kept in a file readable by this user only.
  export LIFELINE_PG_PASSWORD_FILE=$dir/password
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$LIFELINE_PG_PASSWORD_FILE")
  cp "$LIFELINE_PG_PASSWORD_FILE" "$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown "$LIFELINE_PG_OS_USER" "$dir/pwfile"
  pg_as_owner "$bindir/initdb" -D "$dir/data" -U lifeline --auth=scram-sha-256 \
    --pwfile="$dir/pwfile" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/pwfile"
  port=$(free_port)
  export LIFELINE_PG_PORT=$port
  export LIFELINE_PG_BINDIR=$bindir
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
log_min_messages = warning
CONF
  pg_start_on_free_port pg_ctl_cmd "$dir/server.log" "$dir/data/postgresql.conf" || return 1
  port=$PG_STARTED_PORT
  export LIFELINE_PG_PORT=$port
  trap pg_cleanup EXIT
  export PGHOST=127.0.0.1 PGPORT=$port PGUSER=lifeline
  PGPASSWORD=$(cat "$LIFELINE_PG_PASSWORD_FILE") "$bindir/createdb" lifeline
  export PGDATABASE=lifeline
  export LIFELINE_PG_DSN="host=127.0.0.1 port=$port user=lifeline dbname=lifeline"
  export LIFELINE_PG_CTL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pg.sh"
  echo "pg.sh: PostgreSQL running on 127.0.0.1:$port (data in $dir/data)"
}

# A hot standby of the cluster pg_start made: a base backup streamed with
# its WAL (pg_basebackup -R -X stream writes primary_conninfo and
# standby.signal), on a port of its own. Stopped with the primary.
pg_standby_start() {
  local bindir=$LIFELINE_PG_BINDIR dir=$LIFELINE_PG_DIR/standby port password
  password=$(cat "$LIFELINE_PG_PASSWORD_FILE")
  pg_as_owner env PGPASSWORD="$password" "$bindir/pg_basebackup" -D "$dir" -R -X stream -c fast \
    -h 127.0.0.1 -p "$LIFELINE_PG_PORT" -U lifeline >"$LIFELINE_PG_DIR/basebackup.log" 2>&1 \
    || { cat "$LIFELINE_PG_DIR/basebackup.log" >&2; return 1; }
  port=$(free_port)
  # The copied postgresql.conf names the primary's port: the last setting wins.
  echo "port = $port" >>"$dir/postgresql.conf"
  pg_start_on_free_port pg_standby_ctl "$LIFELINE_PG_DIR/standby.log" "$dir/postgresql.conf" || return 1
  port=$PG_STARTED_PORT
  export LIFELINE_PG_STANDBY_PORT=$port
  export LIFELINE_PG_STANDBY_DSN="host=127.0.0.1 port=$port user=lifeline dbname=lifeline"
  echo "pg.sh: hot standby running on 127.0.0.1:$port (data in $dir)"
}

pg_standby_ctl() {
  pg_as_owner "$LIFELINE_PG_BINDIR/pg_ctl" -D "$LIFELINE_PG_DIR/standby" "$@"
}

# Runs one SQL statement on the standby (replay control).
pg_standby_sql() {
  PGPASSWORD=$(cat "$LIFELINE_PG_PASSWORD_FILE") "$LIFELINE_PG_BINDIR/psql" -X -Atq \
    -h 127.0.0.1 -p "${LIFELINE_PG_STANDBY_PORT:?no standby (pg_standby_start)}" -U lifeline \
    -d lifeline -c "$1"
}

pg_cleanup() {
  local rc=$?
  if [ -n "${LIFELINE_PG_DIR:-}" ] && [ -d "$LIFELINE_PG_DIR/standby" ]; then
    pg_standby_ctl -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${LIFELINE_PG_DIR:-}" ] && [ -d "$LIFELINE_PG_DIR/data" ]; then
    # A paused (SIGSTOPped) server would never stop.
    pg_signal CONT 2>/dev/null || true
    pg_ctl_cmd -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$LIFELINE_PG_DIR"
  fi
  return $rc
}

# Signals the postmaster and every server process it forked (a SIGSTOP of
# the postmaster alone would leave open connections working).
pg_signal() {
  local pid p stat ppid pids
  pid=$(head -n 1 "$LIFELINE_PG_DIR/data/postmaster.pid" 2>/dev/null) || return 1
  pids=$pid
  # Builtins only (no process per /proc entry): fast on a loaded machine.
  for p in /proc/[0-9]*; do
    { read -r stat <"$p/stat"; } 2>/dev/null || continue
    stat=${stat##*) } # "<pid> (<comm>) <state> <ppid> ...": comm may hold spaces
    ppid=${stat#* }
    ppid=${ppid%% *}
    if [ "$ppid" = "$pid" ]; then pids="$pids ${p#/proc/}"; fi
  done
  # shellcheck disable=SC2086
  kill "-$1" $pids
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  : "${LIFELINE_PG_DIR:?run pg_start first (source scripts/pg.sh)}"
  case "${1:-}" in
    kill) pg_ctl_cmd -m immediate -w stop >/dev/null ;;   # like a crash
    stop) pg_ctl_cmd -m fast -w stop >/dev/null ;;
    start) pg_ctl_cmd -l "$LIFELINE_PG_DIR/server.log" -w -t 60 start >/dev/null ;;
    status) pg_ctl_cmd status ;;
    pause) pg_signal STOP ;;   # a hung server
    resume) pg_signal CONT ;;
    standby-pause) pg_standby_sql "SELECT pg_wal_replay_pause()" >/dev/null ;;
    standby-resume) pg_standby_sql "SELECT pg_wal_replay_resume()" >/dev/null ;;
    promote) pg_standby_ctl -w -t 60 promote >/dev/null ;;
    standby-kill) pg_standby_ctl -m immediate -w stop >/dev/null ;;
    standby-start) pg_standby_ctl -l "$LIFELINE_PG_DIR/standby.log" -w -t 60 start >/dev/null ;;
    *) echo "usage: $0 kill|stop|start|status|pause|resume|standby-pause|standby-resume|promote|standby-kill|standby-start" >&2
       exit 2 ;;
  esac
fi
