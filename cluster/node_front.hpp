// A cluster node's coordinator front (issue 16). Everything that talks to
// "the coordinator" on a node (the HTTP API, the supervisors, the replica
// links, other nodes forwarding writes) talks to this actor, which hands
// each request to the coordinator of the node's current part:
// - the write leader's coordinator fans writes out to PostgreSQL and to
//   every node's vector store, keeps a handoff log per replica and stores
//   replica markers in etcd (fenced by its term);
// - a follower's coordinator hands writes to the leader's front, serves
//   reads from PostgreSQL and hands the leader those it cannot serve.
// A change of part replaces the coordinator: a term is one coordinator's
// life, so nothing a deposed leader knew (hints, replica states) leaks into
// the next term. The supervisors and links report again to the new one.
// The front is also what a node publishes on its cluster address: peers ask
// it for a local replica's supervisor, and followers send it writes.
#pragma once

#include "actors/actors.hpp"
#include "cluster/leadership.hpp"

#include <caf/fwd.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lifeline::cluster {

using replica_atom = caf::atom_constant<caf::atom("replica")>;

/// What the front starts around itself (it owns and stops all of it).
struct node_wiring {
  /// The local supervisors and the replica links: asked to report again
  /// to a new coordinator.
  std::vector<caf::actor> reporters;
  /// Local backends other nodes may keep as replicas, by cluster name.
  std::map<std::string, supervisor_actor> replicas;
  /// The leadership actor (also the leader's durable state).
  durable_state_actor leadership;
};

struct node_front_config {
  std::string node;
  /// Spawns the coordinator for a part: leading term `term` (with the
  /// leadership actor as its durable state), or following (term 0).
  std::function<coordinator_actor(bool leading, int64_t term, durable_state_actor leadership)>
    coordinator;
  /// Spawns the supervisors, links and leadership, given the front.
  std::function<node_wiring(caf::actor front)> wire;
  std::shared_ptr<cluster_view> view;
};

/// Spawns the front; use it as the node's coordinator (it answers the
/// coordinator's external protocol).
coordinator_actor spawn_node_front(caf::actor_system& sys, node_front_config cfg);

} // namespace lifeline::cluster
