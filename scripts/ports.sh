#!/usr/bin/env bash
# free_port: a port on 127.0.0.1 nothing listens on now, for the private
# servers scripts/pg.sh and scripts/etcd.sh start. Sourced by them.
#
# Below the kernel's ephemeral range (ip_local_port_range, 32768 and up by
# default): a port there can be taken between this check and the server's
# bind by the local end of any outgoing connection, e.g. a test's client.
free_port() {
  local port
  for port in $(seq $((20000 + RANDOM % 12000)) 32767) $(seq 10000 19999); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}
