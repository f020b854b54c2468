// A node's part in electing the cluster's write leader (issue 16), as an
// actor: it campaigns and renews through etcd on a timer
// (write_leadership.hpp), and it stands in for the coordinator's durable
// state actor: the version ceiling is read from and raised in etcd, fenced
// by this node's term, while replica markers stay in the local files. So a
// node that does not lead, or no longer does, or cannot reach etcd, gets no
// new versions: its coordinator refuses writes with a 503 that says why,
// within one version lease (set it to the leader lease), and reads go on.
// A node that becomes leader starts its versions above the stored ceiling.
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lifeline::cluster {

struct cluster_config {
  std::string node;                   ///< This node's name.
  std::vector<std::string> etcd;      ///< Endpoints, "http://host:port".
  std::string prefix = "/lifeline";   ///< One cluster per key prefix.
  std::chrono::seconds ttl{5};        ///< The leader lease.
  std::chrono::milliseconds etcd_timeout{2000}; ///< Each call to etcd.
};

/// What the leadership actor last learned, for health (thread-safe).
class cluster_view {
public:
  struct snapshot {
    std::string node;
    std::string leader; ///< "" while none is known.
    bool leading = false;
    int64_t term = 0;
    std::string error;  ///< The last failure to reach etcd ("" after a success).
  };
  snapshot get() const {
    std::lock_guard guard{mutex_};
    return now_;
  }
  void set(snapshot s) {
    std::lock_guard guard{mutex_};
    now_ = std::move(s);
  }

private:
  mutable std::mutex mutex_;
  snapshot now_;
};

/// The health reply's "cluster" object: {"node", "leader", "nodes": [{"name",
/// "state"}]}. Nodes are the ones this node knows of so far: itself and the
/// leader (membership from etcd comes with the nodes' network).
std::string health_json(const cluster_view::snapshot& s);

/// Spawns the actor (detached: etcd calls block) in front of `files`; it
/// resigns and ends when `owner` (the coordinator) does.
durable_state_actor spawn_leadership(caf::actor_system& sys, cluster_config cfg,
                                     durable_state_actor files, std::shared_ptr<cluster_view> view,
                                     caf::actor_addr owner);

} // namespace lifeline::cluster
