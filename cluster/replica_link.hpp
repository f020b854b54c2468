// The link from this node to a replica another node keeps (issue 16): the
// write leader reaches every node's vector store through one, and it plays
// that replica's supervisor for the local coordinator. It finds where the
// node listens (announced in etcd), connects over CAF's network layer
// asynchronously, asks the node's front for the replica's supervisor and
// watches it: every lifecycle event of the replica comes through here, under
// its cluster name (`vectors@n2`). When the connection drops, CAF kills the
// node's proxies with remote_link_unreachable; the link reports the replica
// `failed` (reads fall over, writes go to its handoff log) and reconnects
// forever with backoff. When the node is back, the coordinator's marker
// check decides between replay and rebuild, as for any backend.
#pragma once

#include "cluster/leadership.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

namespace lifeline::cluster {

struct replica_link_config {
  cluster_config cluster;  ///< etcd and the key prefix.
  std::string peer;        ///< The node that keeps the replica.
  std::string backend;     ///< The replica's name there, e.g. "vectors@n2".
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds retry_min{200}, retry_max{5000};
};

/// Spawns the link (detached: it reads etcd). It reports to `front` (the
/// local node's coordinator front) and tells it whether the peer's front
/// is reachable: (watch_atom, peer, caf::actor or null).
caf::actor spawn_replica_link(caf::actor_system& sys, replica_link_config cfg, caf::actor front);

} // namespace lifeline::cluster
