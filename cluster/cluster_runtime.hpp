// The composition root of a cluster node (issue 16): the node's front
// (node_front.hpp) in place of the coordinator, published on the node's
// cluster address; the local supervisors reporting to it; a link per
// replica another node keeps (replica_link.hpp); and the leadership actor
// campaigning in etcd. Backends whose name holds '@' are a node's own
// replicas (`vectors@n1`); the others (PostgreSQL) are shared by every node.
#pragma once

#include "actors/runtime.hpp"
#include "cluster/leadership.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace lifeline::cluster {

struct node_config {
  cluster_config cluster;   ///< Its `listen` is filled in with the bound port.
  std::string listen_host;  ///< The address peers reach this node at.
  uint16_t listen_port = 0; ///< 0: any free port (announced in etcd).
};

/// Starts the node; `rt.coordinator` is its front. `view` feeds health.
/// Fails if the cluster address cannot be bound.
caf::expected<runtime> spawn_cluster_runtime(caf::actor_system& sys, runtime_config rc,
                                             node_config nc, std::shared_ptr<cluster_view> view);

/// The name of backend `base` kept by `node` ("vectors" on "n2": "vectors@n2").
inline std::string replica_name(const std::string& base, const std::string& node) {
  return base + "@" + node;
}

} // namespace lifeline::cluster
