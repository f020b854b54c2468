// A node's part in electing the cluster's write leader (issue 16), as an
// actor: it campaigns and renews through etcd on a timer
// (write_leadership.hpp), announces where the node listens, tells the
// node's front (node_front.hpp) who leads, and stands in for the leader's
// durable state actor: the version ceiling and the replica markers are read
// from and stored in etcd, fenced by this node's term, so the next leader
// finds them there. So a
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
  /// Where this node's network listens ("host:port"), announced in etcd
  /// under <prefix>/nodes/<node> on the node's lease ("": not announced).
  std::string listen;
  /// The other nodes' names (the cluster's members, this one left out).
  std::vector<std::string> peers;
};

/// The etcd key under which a node announces where it listens.
std::string node_key(const cluster_config& cfg, const std::string& node);

/// What the leadership actor last learned, and which peers this node
/// reaches, for health (thread-safe).
class cluster_view {
public:
  struct snapshot {
    std::string node;
    std::string leader; ///< "" while none is known.
    bool leading = false;
    int64_t term = 0;
    std::string error;  ///< The last failure to reach etcd ("" after a success).
    std::vector<std::string> peers;     ///< The other members.
    std::vector<std::string> reachable; ///< Those this node is connected to.
  };
  explicit cluster_view(std::vector<std::string> peers = {}) : peers_(std::move(peers)) {}
  snapshot get() const {
    std::lock_guard guard{mutex_};
    auto s = now_;
    s.peers = peers_;
    s.reachable = reachable_;
    return s;
  }
  /// The leadership's view (its peers and reachable fields are ignored).
  void set(snapshot s) {
    std::lock_guard guard{mutex_};
    now_ = std::move(s);
  }
  void set_reachable(std::vector<std::string> reachable) {
    std::lock_guard guard{mutex_};
    reachable_ = std::move(reachable);
  }

private:
  mutable std::mutex mutex_;
  snapshot now_;
  std::vector<std::string> peers_;
  std::vector<std::string> reachable_;
};

/// The health reply's "cluster" object: {"node", "leader", "nodes": [{"name",
/// "state", "reachable"}]}: this node and every configured peer, each
/// "leader", "follower" or (this node only) "no-leader-known"; a peer this
/// node is not connected to is "unreachable".
std::string health_json(const cluster_view::snapshot& s);

/// Spawns the actor (detached: etcd calls block). Markers go to `files`
/// (null: to etcd, fenced by the term). Every renewal period it sends
/// `owner` (leader_atom, leader, term, leading) (null owner: nothing); it
/// resigns and ends when `owner` does.
durable_state_actor spawn_leadership(caf::actor_system& sys, cluster_config cfg,
                                     durable_state_actor files, std::shared_ptr<cluster_view> view,
                                     caf::actor owner);

} // namespace lifeline::cluster
